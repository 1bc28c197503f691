"""Decoding landed text files line by line: UTF-8, GBK/GB18030 or ASCII, never a mix.

With ``encoding: auto`` a UTF-8 BOM means UTF-8; otherwise each line is classified as ASCII, UTF-8
or GB18030 (a superset of GBK) and the first non-ASCII line fixes the file's encoding. A later
line in another encoding (a file assembled from two exports) fails the file with
``ExtractError`` naming that line; so does a line that is neither. UTF-16 is refused.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

from custody.sources.errors import ExtractError


class LineDecoder:
    """Decode a file line by line, detecting its encoding and refusing mixed encodings.

    ``encoding``: ``auto`` or a codec name (then every line must decode with it). After the last
    line, ``detected`` names the encoding (``utf-8``, ``utf-8-sig``, ``gb18030``, ``gbk`` or
    ``ascii``). Raises ``ExtractError`` naming the file and the first bad line.
    """

    def __init__(self, name: str, encoding: str = "auto") -> None:
        self.name = name
        self.fixed = None if encoding == "auto" else codecs.lookup(encoding).name
        self.encoding: str | None = self.fixed
        self.bom = False
        self.gbk_only = True

    @property
    def detected(self) -> str:
        if self.encoding is None:
            return "ascii"
        if self.encoding == "utf-8" and self.bom:
            return "utf-8-sig"
        if self.encoding == "gb18030" and self.gbk_only:
            return "gbk"
        return self.encoding

    def decode(self, raw: bytes, lineno: int) -> str:
        """Decode one physical line (with its line ending)."""
        if lineno == 1:
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
                self.bom = True
                if self.fixed is None:
                    self.encoding = "utf-8"
            elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise ExtractError(f"{self.name}: UTF-16 files are not supported; send UTF-8 or GB18030")
        if self.fixed is not None:
            try:
                return raw.decode(self.fixed)
            except UnicodeDecodeError:
                raise ExtractError(f"{self.name}: line {lineno} is not valid {self.fixed}") from None
        if raw.isascii():
            return raw.decode("ascii")
        kind, text = self._classify(raw)
        if self.encoding is None:
            if kind is None:
                raise ExtractError(f"{self.name}: line {lineno} is neither UTF-8 nor GB18030")
            self.encoding = kind
        elif kind != self.encoding:
            if kind is None:
                raise ExtractError(f"{self.name}: line {lineno} is not valid {self.encoding}")
            raise ExtractError(f"{self.name}: mixed encodings: line {lineno} is {kind}, "
                               f"earlier lines are {self.encoding}")
        if self.encoding == "gb18030" and self.gbk_only:
            try:
                raw.decode("gbk")
            except UnicodeDecodeError:
                self.gbk_only = False
        return text

    def _classify(self, raw: bytes) -> tuple[str | None, str]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            # GB text is sometimes valid UTF-8 by accident; such a reading yields Latin, Greek or
            # Cyrillic letters (two-byte sequences), which a Chinese file would not contain.
            if self.encoding == "gb18030" and any("\u0080" <= ch <= "\u07ff" for ch in text):
                try:
                    return "gb18030", raw.decode("gb18030")
                except UnicodeDecodeError:
                    pass
            return "utf-8", text
        try:
            return "gb18030", raw.decode("gb18030")
        except UnicodeDecodeError:
            return None, ""


def decoded_lines(stream: BinaryIO, decoder: LineDecoder) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each physical line of ``stream`` (1-based, line ending kept)."""
    # Splitting on b"\n" is safe for UTF-8 and GB18030: 0x0A never occurs inside a character.
    for lineno, raw in enumerate(stream, 1):
        yield lineno, decoder.decode(raw, lineno)
