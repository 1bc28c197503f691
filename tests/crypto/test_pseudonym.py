"""Pseudonymisation per deal: keyed tokens that survive joins, deterministic AES-SIV."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from custody.crypto.pseudonym import LABEL, PseudonymError, Pseudonymizer, normalize

RESIDENT_ID = ["11010519491231002X", " 11010519491231002x ", "１１０１０５１９４９１２３１００２Ｘ",
               "110105 19491231 002x", "110105-19491231-002X"]
PHONES = ["13812345678", "+86 138 1234 5678", "138-1234-5678", "0086 13812345678", "１３８１２３４５６７８",
          "+86-138 1234 5678"]
EMAILS = ["Zhang.San@Example.COM ", "zhang.san@example.com", "ｚｈａｎｇ.san@example.com"]
NAMES = ["张三", "张 三", " 张三 ", "张　三"]


@pytest.fixture
def deal_a():
    return Pseudonymizer(os.urandom(32), key_id="dk-test-a", deal_id="deal-a")


def test_tokens_agree_across_formats_of_the_same_value(deal_a):
    for pi_type, forms in [("resident_id", RESIDENT_ID), ("mobile_phone", PHONES), ("email", EMAILS),
                           ("person_name", NAMES)]:
        tokens = {deal_a.token(pi_type, v) for v in forms}
        assert len(tokens) == 1, (pi_type, tokens)
        (token,) = tokens
        assert len(token) == 32 and int(token, 16) >= 0
    assert normalize("mobile_phone", PHONES[1]) == "+8613812345678"
    assert normalize("resident_id", RESIDENT_ID[2]) == "11010519491231002X"
    # a number classified as phone in one table and mobile_phone in another still joins
    assert deal_a.token("phone", "138 1234 5678") == deal_a.token("mobile_phone", "+8613812345678")
    assert deal_a.token("email", None) is None and deal_a.token("email", "  ") is None


def test_tokens_differ_across_deals_values_and_pi_types(deal_a):
    deal_b = Pseudonymizer(os.urandom(32))
    assert deal_a.token("resident_id", RESIDENT_ID[0]) != deal_b.token("resident_id", RESIDENT_ID[0])
    assert deal_a.token("resident_id", "110105194912310029") != deal_a.token("resident_id", RESIDENT_ID[0])
    assert deal_a.token("passport", "E12345678") != deal_a.token("travel_permit", "E12345678")


def test_tokens_over_an_arrow_column_keep_nulls_and_match_single_values(deal_a):
    col = pa.chunked_array([pa.array(PHONES[:3] + [None]), pa.array(PHONES[3:] + ["13900000000"])])
    out = deal_a.tokens("mobile_phone", col)
    assert len(out) == len(col) and out.type == pa.string() and out.null_count == 1
    values = out.to_pylist()
    assert len({v for v in values if v}) == 2
    assert values[-1] == deal_a.token("mobile_phone", "13900000000")
    ints = deal_a.tokens("mobile_phone", pa.array([13812345678, None], pa.int64()))
    assert ints.to_pylist() == [values[0], None]


def test_deterministic_encryption_round_trip_and_determinism(deal_a):
    ct = deal_a.encrypt_deterministic("resident_id", RESIDENT_ID[1])
    assert ct == deal_a.encrypt_deterministic("resident_id", RESIDENT_ID[3])  # same person, same ciphertext
    assert "11010519491231002" not in ct
    assert deal_a.decrypt_deterministic("resident_id", ct) == "11010519491231002X"
    assert deal_a.encrypt_deterministic("resident_id", "110105194912310029") != ct
    with pytest.raises(PseudonymError, match="another deal or PI type"):
        Pseudonymizer(os.urandom(32)).decrypt_deterministic("resident_id", ct)
    with pytest.raises(PseudonymError):
        deal_a.decrypt_deterministic("passport", ct)
    tampered = ("A" if ct[0] != "A" else "B") + ct[1:]
    with pytest.raises(PseudonymError):
        deal_a.decrypt_deterministic("resident_id", tampered)
    col = deal_a.encrypt_column("mobile_phone", pa.array(PHONES + [None]))
    assert len(set(col.to_pylist()[:-1])) == 1 and col.to_pylist()[-1] is None
    assert deal_a.decrypt_column("mobile_phone", col).to_pylist() == ["+8613812345678"] * len(PHONES) + [None]


def test_protect_table_labels_columns_de_identified(deal_a):
    table = pa.table({"id": [1, 2], "resident_id": RESIDENT_ID[:2], "mobile": PHONES[:2], "city": ["北京", "上海"]})
    out = deal_a.protect_table(table, {"resident_id": ("resident_id", "token"), "mobile": ("mobile_phone", "encrypt")})
    assert out.column("id").equals(table.column("id")) and out.column("city").equals(table.column("city"))
    assert out.column("resident_id").to_pylist()[0] == out.column("resident_id").to_pylist()[1]
    for name, method in [("resident_id", b"HMAC-SHA256-128"), ("mobile", b"AES-SIV-512")]:
        meta = out.schema.field(name).metadata
        assert meta[b"custody.protection"] == LABEL.encode() == b"de-identified"
        assert meta[b"custody.method"] == method and b"PIPL Art 73" in meta[b"custody.rule"]
        assert meta[b"custody.deal_id"] == b"deal-a"
        assert b"anonymous" not in b"".join(meta.values()).lower()
    with pytest.raises(ValueError, match="unknown method"):
        deal_a.protect_table(table, {"city": ("postal_address", "hash")})


def test_deal_keys_live_in_the_key_store(scoped):
    a1 = Pseudonymizer.for_deal(scoped, "deal-2026-001")
    a2 = Pseudonymizer.for_deal(scoped, "deal-2026-001")
    b = Pseudonymizer.for_deal(scoped, "deal-2026-002")
    assert a1.key_id.startswith("dk-") and a1.key_id == a2.key_id != b.key_id
    assert a1.token("email", EMAILS[0]) == a2.token("email", EMAILS[1]) != b.token("email", EMAILS[0])
    ct = a1.encrypt_deterministic("email", EMAILS[0])
    cert = scoped.destroy_deal_key("deal-2026-001", who="dpo", why="deal closed, mapping no longer needed")
    assert cert["purpose"] == "deal" and cert["key_ids"] == [a1.key_id]
    again = Pseudonymizer.for_deal(scoped, "deal-2026-001")  # a new key: old tokens cannot be linked
    assert again.key_id != a1.key_id and again.token("email", EMAILS[0]) != a1.token("email", EMAILS[0])
    with pytest.raises(PseudonymError):
        again.decrypt_deterministic("email", ct)


def test_token_and_siv_follow_the_spec():
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    deal_key = os.urandom(32)
    p = Pseudonymizer(deal_key)
    kt = HKDF(SHA256(), 32, salt=None, info=b"custody/pseudonym/token/v1").derive(deal_key)
    ks = HKDF(SHA256(), 64, salt=None, info=b"custody/pseudonym/siv/v1").derive(deal_key)
    expected = hmac.new(kt, b"phone\x00+8613812345678", hashlib.sha256).hexdigest()[:32]
    assert p.token("mobile_phone", "138 1234 5678") == expected
    raw = AESSIV(ks).encrypt(b"+8613812345678", [b"custody/pseudonym/siv/v1", b"phone"])
    assert p.encrypt_deterministic("mobile_phone", "13812345678") == base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
