"""The CJK font embedded in the PDF and the HTML: the glyphs a report uses, as a small TrueType font.

``cjk_font`` finds the font file; ``truetype_subset`` cuts it down.

Noto Sans SC (SIL Open Font License, PyPI package ``pylopdf-fonts-zh-cn``) has PostScript (CFF)
outlines. fpdf2 embeds such a font under a custom CMap, which some PDF text extractors (pypdf
among them) read wrongly; a TrueType font is embedded under ``Identity-H`` with a ``ToUnicode``
map, which every reader handles. So ``truetype_subset`` keeps only the characters of the report
(fontTools subsetter) and converts their cubic outlines to quadratic ones (fontTools cu2qu, at
most 1 font unit off): about a second for a report, and the embedded font is tens of kilobytes.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

FONT_PACKAGE = "pylopdf-fonts-zh-cn"


class PdfUnavailable(Exception):
    """The CJK font (or fpdf2) is missing, so no PDF can be written; the message names what to install."""


def cjk_font() -> Path:
    """Path of the CJK font to embed: ``CUSTODY_CJK_FONT`` or Noto Sans SC from ``pylopdf-fonts-zh-cn``.

    Raises ``PdfUnavailable`` naming the package or file that is missing.
    """
    override = os.environ.get("CUSTODY_CJK_FONT")
    if override:
        path = Path(override)
        if not path.is_file():
            raise PdfUnavailable(f"CUSTODY_CJK_FONT names {path}, which is not a file")
        return path
    try:
        import pylopdf_fonts_zh_cn
    except ModuleNotFoundError as exc:
        if exc.name != "pylopdf_fonts_zh_cn":
            raise
        raise PdfUnavailable(f"the CJK font package {FONT_PACKAGE} is not installed: run `make install` "
                             f"(or pip install -r requirements.txt -c constraints.txt)") from None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    if not path.is_file():
        raise PdfUnavailable(f"the font file {path.name} of {FONT_PACKAGE} is missing: reinstall the package")
    return path


_MAXP_ZERO = ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
              "maxStackElements", "maxSizeOfInstructions", "maxComponentElements", "maxComponentDepth")


@lru_cache(maxsize=4)
def truetype_subset(font_file: Path, text: str) -> bytes:
    """A TrueType font (bytes) with the glyphs of ``text`` from the OpenType font ``font_file``.

    A TrueType input is subset only. The last few results are kept (one report's renderings share
    one subset). Raises ``fontTools.ttLib.TTLibError`` for a file that is not a font.
    """
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    font = TTFont(str(font_file), lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text + " ")
    subsetter.subset(font)
    if "CFF " in font:
        glyph_set, order = font.getGlyphSet(), font.getGlyphOrder()
        glyphs = {}
        for name in order:
            pen = TTGlyphPen(glyph_set)
            glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            glyphs[name] = pen.glyph()
        font["loca"] = newTable("loca")
        glyf = font["glyf"] = newTable("glyf")
        glyf.glyphOrder, glyf.glyphs = order, glyphs
        del font["CFF "]
        if "VORG" in font:
            del font["VORG"]
        glyf.compile(font)
        hmtx = font["hmtx"]
        for name in order:  # left side bearing = the new outline's xMin
            hmtx[name] = (hmtx[name][0], getattr(glyf[name], "xMin", 0))
        maxp = font["maxp"] = newTable("maxp")
        maxp.tableVersion = 0x00010000
        for field in _MAXP_ZERO:
            setattr(maxp, field, 0)
        maxp.maxZones = 1
        post = font["post"]
        post.formatType, post.extraNames, post.mapping = 2.0, [], {}
        font["head"].glyphDataFormat = 0
        font.sfntVersion = "\x00\x01\x00\x00"
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()
