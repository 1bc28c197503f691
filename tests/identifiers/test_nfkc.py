"""The array NFKC equals utf8proc's (and Python's) NFKC on every value, through the compiled map
(``custody._textmap``) and through the NumPy one, and the character sets the map relies on are what
the module says: derived again here from every code point of ``unicodedata`` and checked one by
one against utf8proc. Under CI=true the compiled module must have been built by the install;
elsewhere its cases skip with the reason when it was not."""

from __future__ import annotations

import os
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from custody.identifiers import _nfkc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st



@pytest.fixture(params=["compiled", "numpy"])
def impl(request, monkeypatch):
    """Each test once through ``custody._textmap`` and once through the NumPy fallback."""
    if request.param == "compiled":
        if _nfkc._textmap is None and os.environ.get("CI") != "true":
            pytest.skip("custody._textmap was not built here (no C compiler at install)")
        assert _nfkc._textmap is not None, "CI=true: the install must build custody._textmap"
    else:
        monkeypatch.setattr(_nfkc, "_textmap", None)
    return request.param


_BLOCKS = ((0x80, 0xFF), (0x2000, 0x206F), (0x3001, 0x303F), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF))
_MAPPED = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]


def _second_characters() -> set[int]:
    """Code points that are the second (or later) character of a canonical decomposition, and the
    Hangul vowels and trailing consonants that compose algorithmically: the characters NFKC may
    compose with the one before them."""
    out = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for cp in range(0x110000):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            out.update(int(p, 16) for p in d.split()[1:])
    return out


def _ranges(points: list[int]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for cp in points:
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return tuple(out)


def test_stable_ranges_are_derived_from_unicodedata():
    second = _second_characters()
    assert not any(ord(c) in second for c in map(chr, range(0x80))), "an ASCII character composes"
    assert not any(ord(c) in second for c in _MAPPED)
    stable = [cp for lo, hi in _BLOCKS for cp in range(lo, hi + 1)
              if unicodedata.normalize("NFKC", chr(cp)) == chr(cp)
              and unicodedata.combining(chr(cp)) == 0 and cp not in second]
    assert _nfkc.STABLE == _ranges(stable)


def test_each_character_against_utf8proc(impl):
    stable = [chr(cp) for lo, hi in _nfkc.STABLE for cp in range(lo, hi + 1)]
    assert pc.utf8_normalize(pa.array(stable), "NFKC").to_pylist() == stable
    want = [unicodedata.normalize("NFKC", c) for c in _MAPPED]
    assert all(len(w) == 1 and ord(w) < 0x80 for w in want)
    assert pc.utf8_normalize(pa.array(_MAPPED), "NFKC").to_pylist() == want
    assert _nfkc.nfkc(pa.array(_MAPPED + ["Ａｂ　１２３，中文。"])).to_pylist() == want + ["Ab 123,中文。"]


# Characters of every kind: ASCII, stable CJK and punctuation, full-width forms and the
# ideographic space, and ones NFKC changes or composes (circled digits, half-width katakana and
# its voiced mark, a combining acute, ligatures, a compatibility ideograph, an ellipsis).
_ALPHABET = st.sampled_from(
    list("aZ09 ,.@-\t") + list("中文客户。、“”—·é") + list("０９ＡＺａｚ，．＠（）") + ["\u3000"]
    + list("①⑴ｶﾞ\u0301ﬁ\uf900…¹\u3099が") + ["\U00020000", "\u00a0"]
)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), st.text(alphabet=_ALPHABET, max_size=12)), max_size=30),
       st.integers(0, 4), st.booleans())
def test_equals_utf8proc_and_python_on_every_value(impl, values, start, large):
    arr = pa.array(values, type=pa.large_string() if large else pa.string()).slice(min(start, len(values)))
    got = _nfkc.nfkc(arr)
    assert got.type == arr.type
    assert got.to_pylist() == pc.utf8_normalize(arr, "NFKC").to_pylist()
    assert got.to_pylist() == [None if v is None else unicodedata.normalize("NFKC", v) for v in arr.to_pylist()]


@pytest.mark.parametrize("values", [[], [None], ["ascii only"], ["中文，全角１２３"] * 3 + ["ｶﾞ"]])
def test_edge_arrays(impl, values):
    arr = pa.array(values, type=pa.string())
    assert _nfkc.nfkc(arr).to_pylist() == pc.utf8_normalize(arr, "NFKC").to_pylist()


def test_malformed_bytes_are_not_quick_and_offsets_are_checked():
    """The compiled map leaves a value with a stray continuation byte, a truncated sequence or an
    encoded surrogate to utf8proc (not quick), and refuses offsets outside the data."""
    if _nfkc._textmap is None:
        if os.environ.get("CI") != "true":
            pytest.skip("custody._textmap was not built here (no C compiler at install)")
        raise AssertionError("CI=true: the install must build custody._textmap")
    import numpy as np

    values = [b"\x80", "中".encode()[:2], b"\xed\xa0\x80", "ａ".encode(), b"ok\xf0\x9f\x98\x80"]
    data = b"".join(values)
    offsets = np.cumsum([0] + [len(v) for v in values]).astype(np.int64)
    quick, _, mapped = _nfkc._textmap.quick_map(offsets, data, _nfkc._TABLE)
    assert list(quick) == [0, 0, 0, 1, 0]
    assert mapped == b"\x80" + "中".encode()[:2] + b"\xed\xa0\x80" + b"a" + b"ok\xf0\x9f\x98\x80"
    with pytest.raises(ValueError):
        _nfkc._textmap.quick_map(np.array([0, 5], dtype=np.int64), b"abc", _nfkc._TABLE)
    with pytest.raises(ValueError):
        _nfkc._textmap.quick_map(np.array([2, 1], dtype=np.int64), b"abc", _nfkc._TABLE)


def test_bytes_of_a_null_slot_never_reach_the_next_value(impl):
    """Arrow leaves a null slot's bytes unspecified: a slot ending in the first two bytes of a
    full-width form must not take the next value's first byte with it."""
    import numpy as np

    data = b"\xef\xbc" + "abcＡ中".encode()
    offsets = np.array([0, 2, len(data)], dtype=np.int32)
    validity = pa.py_buffer(bytes([0b10]))
    arr = pa.Array.from_buffers(pa.string(), 2, [validity, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=1)
    assert _nfkc.nfkc(arr).to_pylist() == [None, "abcA中"]


def test_mostly_other_text_goes_to_utf8proc_whole(impl, monkeypatch):
    values = pa.array(["ｶﾞ①", "ﬁ", "中文，"])
    assert _nfkc.nfkc(values).to_pylist() == pc.utf8_normalize(values, "NFKC").to_pylist()
