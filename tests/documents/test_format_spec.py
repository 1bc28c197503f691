"""docs/format.md sections 3-5 are enough: renderings, keys, object schemas and document fields are
read from the spec's own tables and checked against the implementation."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import BaseModel

from custody.canonical import canonical_json
from custody.documents import document_key, document_types, object_id, run_key_for
from custody.hashing import canonical_rows

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "format.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the section whose heading starts with ``title`` (up to the next heading of any level)."""
    m = re.search(rf"^(#+) {re.escape(title)}.*?$(.*?)(?=^#+ )", SPEC, re.S | re.M)
    assert m, f"no section {title!r} in docs/format.md"
    return m.group(2)


def table_rows(text: str) -> list[list[str]]:
    """Cells of the first markdown table in ``text`` (header and rule skipped), backticks kept."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def code(cell: str) -> str:
    m = re.fullmatch(r"`(.*)`(?: \(hex\))?(?: \(as float\))?", cell)
    assert m, cell
    return m.group(1)


def arrow_type(text: str) -> pa.DataType:
    simple = {"string": pa.string(), "int64": pa.int64(), "bool": pa.bool_(), "float64": pa.float64(),
              "date32": pa.date32(), "time64[us]": pa.time64("us"), "binary": pa.binary(),
              "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC")}
    if text in simple:
        return simple[text]
    if m := re.fullmatch(r"decimal128\((\d+), (-?\d+)\)", text):
        return pa.decimal128(int(m[1]), int(m[2]))
    if m := re.fullmatch(r"list<(\w+)>", text):
        return pa.list_(arrow_type(m[1]))
    if m := re.fullmatch(r"struct<(.*)>", text):
        return pa.struct([(n, arrow_type(t)) for n, t in (f.split(": ") for f in m[1].split(", "))])
    raise ValueError(text)


def arrow_value(literal: str, t: pa.DataType):
    v = json.loads(literal)
    if v is None:
        return None
    if pa.types.is_floating(t):
        return float(v)
    if pa.types.is_decimal(t):
        return decimal.Decimal(v)
    if pa.types.is_date(t):
        return dt.date.fromisoformat(v)
    if pa.types.is_time(t):
        return dt.time.fromisoformat(v)
    if pa.types.is_timestamp(t):
        return dt.datetime.fromisoformat(v)
    if pa.types.is_binary(t):
        return bytes.fromhex(v)
    return v


EXAMPLES = table_rows(section("3.3 Examples"))


def test_the_spec_has_rendering_examples_of_every_scalar_type():
    types = {code(r[1]) for r in EXAMPLES}
    assert {"string", "int64", "bool", "float64", "date32", "time64[us]", "timestamp[us, tz=UTC]", "binary",
            "list<string>"} <= types and any(t.startswith("decimal128") for t in types)


@pytest.mark.parametrize("value,atype,expected", [(code(a), code(b), code(c)) for a, b, c in EXAMPLES])
def test_canonical_row_renders_as_the_spec_says(value, atype, expected):
    t = arrow_type(atype)
    table = pa.table({"v": pa.array([arrow_value(value, t)], t)})
    assert canonical_rows(table).to_pylist() == [expected]


def test_multi_column_example():
    m = re.search(r"`\(1, null, \"张三\"\)` as\s+`int64, string, string` is `([^`]+)`", section("3.3 Examples"))
    table = pa.table({"a": pa.array([1], pa.int64()), "b": pa.array([None], pa.string()), "c": pa.array(["张三"])})
    assert canonical_rows(table).to_pylist() == [m.group(1)]


@pytest.mark.parametrize("value,expected", [(code(a), code(b)) for a, b in table_rows(section("4.1 Canonical JSON"))])
def test_canonical_json_floats_as_the_spec_says(value, expected):
    assert canonical_json(float(value)) == expected.encode()


def test_canonical_json_keys_escapes_and_nan():
    assert canonical_json({"b": "é\n\"", "a": [1, None, True]}) == '{"a":[1,null,true],"b":"é\\n\\""}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def _identity(cell: str) -> dict:
    parts = [p.strip("` ") for p in cell.split(",")]
    out = {"source": parts[0], "run_key": parts[1]}
    for p in parts[2:]:
        if p.startswith("table "):
            out["table"] = p[6:].strip("`")
        elif p.startswith("part "):
            out["part"] = int(p[5:])
        elif p.startswith("n "):
            out["n"] = int(p[2:])
        elif p.startswith("chunk "):
            out["chunk"] = int(p[6:])
        else:
            out["table"] = p
    return out


def test_staging_keys_as_the_spec_says():
    rows = {r[0]: (r[1], r[2]) for r in table_rows(section("5.1 Layout").split("Examples")[1])}
    kinds = {"chunk object": "chunk", "row-key object": "rowkeys", "extraction quarantine": "quarantine-extract",
             "validation quarantine": "quarantine-validate"}
    for what, (identity, key) in rows.items():
        key = key.strip("`")
        if what == "run key":
            run_id = re.search(r"`([^`]+)`", identity).group(1)
            assert re.fullmatch(re.escape(key.split("` + ")[0]) + "[0-9a-f]{8}", run_key_for(run_id)), what
            continue
        ident = _identity(identity.replace("source ", "").replace("run ", "").replace("table ", ""))
        if what in kinds:
            assert object_id(kinds[what], **ident) + ".cdy" == key, what
        else:
            kind = {"manifest": "manifest", "part document": "part", "snapshot (store)": "snapshot"}[what]
            assert document_key(kind, **{k: v for k, v in ident.items() if k != "n"}) == key, what


def test_rowkeys_object_schema_as_the_spec_says():
    from custody.rowkeys import PACKED_SCHEMA

    spec = [(code(a), code(b.split(",")[0])) for a, b, _ in table_rows(section("5.3 Row-key objects"))]
    assert [(f.name, str(f.type)) for f in PACKED_SCHEMA] == spec
    assert all(not f.nullable for f in PACKED_SCHEMA)


def test_extraction_quarantine_columns_as_the_spec_says():
    from custody.sources.quarantine import quarantine_schema

    spec = [(code(a), code(b.split(",")[0])) for a, b, _ in table_rows(section("5.4 Quarantine objects"))]
    schema = quarantine_schema(pa.schema([pa.field("name", pa.string())]))
    assert [(f.name, str(f.type).replace("list<item: string>", "list<string>")) for f in schema][1:] == spec


NESTED_DOCUMENTS = {"manifest", "documents"}  # a snapshot's embedded documents: specified in their own sections


def _field_names(model: type[BaseModel], seen: set | None = None) -> set[str]:
    seen = set() if seen is None else seen
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        if name in NESTED_DOCUMENTS:
            continue
        for sub in _models_in(info.annotation):
            if sub not in seen:
                seen.add(sub)
                names |= _field_names(sub, seen)
    return names


def _models_in(annotation) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


@pytest.mark.parametrize("fmt", sorted(document_types()))
def test_every_document_field_is_specified(fmt):
    model = document_types()[fmt]
    heading = next(h for h in re.findall(r"^### (4\.\d+ .*)$", SPEC, re.M) if f"`{fmt}`" in h)
    text = section(heading) + section("4.3 Object entry") + section("4.2 Seals")
    if "as in the manifest" in text:
        text += section("4.6 Run manifest")
    version = re.search(r"version (\d+)\)", heading).group(1)
    assert int(version) == model.VERSION
    missing = sorted(n for n in _field_names(model) if not re.search(rf"\b{n}\b", text))
    assert missing == [], f"{fmt}: fields not in docs/format.md: {missing}"
