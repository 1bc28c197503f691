"""The full scan of free text with batched, vectorised validators decides exactly what the
per-candidate path decides: the embedded validators' column forms against the per-value ones, and
the batched scan against the scan one text at a time (hypothesis), on notes mixing resident IDs,
cards, mobiles and e-mail addresses, valid and near-valid, ASCII and full-width."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from custody.classification import freetext, values
from custody.classification.detectors import default_registry
from custody.identifiers import mobile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FULL_WIDTH = str.maketrans("0123456789X@.", "０１２３４５６７８９Ｘ＠．")

_REGISTRY = default_registry()
RULES = [(d.pi_type, d.embedded) for d in _REGISTRY if d.embedded is not None]


@st.composite
def _identifier(draw) -> str:
    kind = draw(st.sampled_from(["rid", "rid15", "card", "mobile", "email", "digits"]))
    if kind == "rid":
        body = f"{draw(st.sampled_from(['110101', '440305', '990101']))}"
        body += f"{draw(st.integers(1875, 2030))}{draw(st.integers(1, 13)):02d}{draw(st.integers(1, 31)):02d}"
        body += f"{draw(st.integers(0, 999)):03d}"
        value = body + ric.calc_check_digit(body + "0")
    elif kind == "rid15":
        value = f"110101{draw(st.integers(0, 99)):02d}{draw(st.integers(1, 12)):02d}{draw(st.integers(1, 28)):02d}123"
    elif kind == "card":
        body = draw(st.from_regex(r"[1-9][0-9]{14,17}", fullmatch=True))
        value = body + luhn.calc_check_digit(body)
        if draw(st.booleans()):
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    elif kind == "mobile":
        prefix = draw(st.sampled_from(["", "+86", "0086", "86 "]))
        value = prefix + "1" + draw(st.from_regex(r"[3-9][0-9]{9}", fullmatch=True))
        if draw(st.booleans()):
            value = value[:-8] + "-" + value[-8:-4] + "-" + value[-4:]
    elif kind == "email":
        value = draw(st.from_regex(r"[a-z0-9._%+-]{1,10}@[a-z0-9-]{1,8}\.(com|cn|local|x1)", fullmatch=True))
    else:
        value = draw(st.from_regex(r"[0-9]{10,20}", fullmatch=True))
    if draw(st.integers(0, 4)) == 0 and value:  # near-valid: one character changed
        i = draw(st.integers(0, len(value) - 1))
        value = value[:i] + draw(st.sampled_from("0123456789X")) + value[i + 1 :]
    if draw(st.integers(0, 5)) == 0:
        value = value.translate(FULL_WIDTH)
    return value


@st.composite
def notes(draw) -> str:
    words = st.sampled_from(["客户手机", "身份证：", "，已核对。", "卡号", " 邮箱 ", "call ", "、", " "])
    parts = draw(st.lists(st.one_of(words, _identifier(), st.text(max_size=6)), min_size=1, max_size=6))
    return "".join(parts)


@SETTINGS
@given(st.lists(notes(), min_size=1, max_size=25))
def test_batched_scan_equals_scan_text_by_text(texts):
    want = [freetext._found(t, RULES) for t in texts]
    assert freetext._found_all(texts, RULES) == want
    # Each rule's pattern run only on the texts its own prefilter selects: the same result.
    masks = freetext._rule_masks(pa.array(texts), RULES)
    assert freetext._found_all(texts, RULES, masks) == want


@SETTINGS
@given(st.lists(st.one_of(notes(), st.text(alphabet="0123456789 -+@.xX:abcm\u0661\u0662", max_size=40)),
                min_size=1, max_size=25))
def test_every_pattern_match_is_in_a_text_its_prefilter_selects(texts):
    """The registry's contract that lets the scan skip a rule's pattern on the texts its prefilter
    rejects: RE2's prefilter matches wherever Python's pattern finds something."""
    arr = pa.array(texts)
    for pi_type, rule in RULES:
        selected = np.asarray(pc.match_substring_regex(arr, rule.prefilter).to_numpy(zero_copy_only=False), dtype=bool)
        for text, ok in zip(texts, selected, strict=True):
            if any(True for _ in rule.finditer(text)):
                assert ok, pi_type


def test_prefilters_select_addresses_with_numeric_labels_and_patterns_read_ascii_digits():
    email = dict(RULES)["email"]
    assert pc.match_substring_regex(pa.array(["mail x@mail.163.com ok"]), email.prefilter).to_pylist() == [True]
    rid = dict(RULES)["resident_id"]
    # An Arabic-Indic digit neither starts nor extends a match: the ASCII number after it is found.
    text = "\u0661" + "110101198001011234"
    assert [c for _, _, c in rid.finditer(text)] == ["110101198001011234"]


@SETTINGS
@given(st.lists(_identifier(), min_size=1, max_size=30))
def test_embedded_validators_column_equals_per_value(candidates):
    for per_value, column in (
        (values.embedded_resident_id, values.embedded_resident_id_column),
        (values.embedded_bank_card, values.embedded_bank_card_column),
        (values.embedded_mobile, values.embedded_mobile_column),
        (values.embedded_email, values.embedded_email_column),
    ):
        want = [bool(per_value(c)) for c in candidates]
        assert column(candidates).tolist() == want, per_value.__name__


def test_allocated_ranges_match_libphonenumber_on_every_four_digit_prefix():
    """The RE2 reading of libphonenumber's CN metadata gives its decision on two numbers of every
    prefix ``1[3-9]xx`` (all mobile ranges are decided within the first five digits)."""
    rng = np.random.default_rng(16)
    numbers = [f"1{p:03d}{rng.integers(0, 10**7):07d}" for p in range(300, 1000) for _ in range(2)]
    numbers += [f"1{p:04d}{rng.integers(0, 10**6):06d}" for p in (6100, 6101, 6109, 7400, 7405, 7406, 7409)]
    got = mobile.allocated_column(pa.array(numbers))
    assert got.tolist() == [mobile._allocated(n) for n in numbers]
    assert 0.3 < got.mean() < 0.95  # both decisions occur


def test_rules_have_column_validators():
    with_column = {t for t, r in RULES if r.column_validator is not None}
    assert {"resident_id", "bank_account", "mobile_phone", "email"} <= with_column


def test_a_full_scan_does_not_set_off_the_collector():
    """A chunk's candidates hold two containers each until the scan is done; scanned with the
    collector paused, they no longer make it walk the heap (custody.collector)."""
    import gc

    from custody.classification.sample import ColumnState

    prefilter = "|".join(f"(?:{r.prefilter})" for _, r in RULES)
    texts = pa.array([f"客户手机 1380013{i % 10000:04d}，已核对。" for i in range(30_000)])
    st_ = ColumnState(name="notes")
    collections = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    was = gc.isenabled()
    gc.enable()
    gc.callbacks.append(count)
    try:
        freetext.scan(st_, texts, len(texts), prefilter, RULES)
    finally:
        gc.callbacks.remove(count)
        if not was:
            gc.disable()
    assert st_.scanned == 30_000 and st_.embedded["mobile_phone"] == 30_000
    # Without the pause: about one collection per 700 candidates (over 80 here).
    assert len(collections) <= 2, collections


def test_only_the_embedded_patterns_read_ascii_digits_header_rules_keep_unicode_boundaries():
    """re.ASCII is the embedded patterns' alone: a header rule's word boundary still falls only
    between a word character and a non-word one in Unicode's sense, so a Latin abbreviation glued
    to Chinese is not a header hit (it was not before)."""
    hits = {h: [d.name for d in _REGISTRY if d.header_hit(h) is not None] for h in ("客户ip", "客户mac", "sfz号")}
    assert hits == {"客户ip": [], "客户mac": [], "sfz号": []}
