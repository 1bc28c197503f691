"""Bad-input corpus for file drops, generated at run time: each input gives its reason or error.

Every case that extracts asserts the reconciliation ``source rows = staged + quarantined`` and
the exact quarantine reasons; every case that must fail asserts the error names the line or the
columns. No real personal information: numbers below are synthetic (valid check digits only
where a test needs them).
"""

from __future__ import annotations

import io
import json

import pytest

from custody.extract import ExtractError, SchemaError
from custody.sources.quarantine import POSITION, RAW_RECORD, REASONS

HEADER = "id,name,mobile\n"
GOOD = "1,张三,13800138000\n2,李四,13900139000\n"


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def xlsx_bytes(sheets: dict[str, list[list]], formulas: dict[tuple[str, str], str] | None = None) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    for (sheet, cell), formula in (formulas or {}).items():
        wb[sheet][cell] = formula
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def check(tm, rows: int, quarantined: int = 0, reasons: dict[str, int] | None = None):
    assert tm.source_rows == rows
    assert tm.extracted_rows + tm.quarantined_at_extract == tm.source_rows
    assert tm.quarantined_at_extract == quarantined
    assert tm.quarantine_reasons == (reasons or {})
    assert sum(f.rows for f in tm.extraction.files) == rows


# -- (name, files, table settings, expected rows, quarantined, reasons) ---------------------------
ID = [{"column": "id", "width": None}]
OK_CASES = [
    ("utf8_chinese", {"a.csv": csv_bytes(HEADER + GOOD)}, {}, 2, 0, {}),
    ("utf8_bom", {"a.csv": b"\xef\xbb\xbf" + csv_bytes(HEADER + GOOD)}, {}, 2, 0, {}),
    ("gbk", {"a.csv": csv_bytes(HEADER + GOOD, "gbk")}, {}, 2, 0, {}),
    ("gb18030_four_byte", {"a.csv": csv_bytes(HEADER + "1,𠮷野,13800138000\n", "gb18030")}, {}, 1, 0, {}),
    ("crlf_line_endings", {"a.csv": csv_bytes((HEADER + GOOD).replace("\n", "\r\n"))}, {}, 2, 0, {}),
    ("semicolon_delimiter", {"a.csv": csv_bytes((HEADER + GOOD).replace(",", ";"))}, {}, 2, 0, {}),
    ("tab_delimiter", {"a.tsv": csv_bytes((HEADER + GOOD).replace(",", "\t"))}, {}, 2, 0, {}),
    ("pipe_delimiter", {"a.csv": csv_bytes((HEADER + GOOD).replace(",", "|"))}, {}, 2, 0, {}),
    ("embedded_newlines", {"a.csv": csv_bytes(HEADER + '1,"张\n三",13800138000\n2,"李\r\n\n四",139\n')}, {}, 2, 0, {}),
    ("doubled_quotes", {"a.csv": csv_bytes(HEADER + '1,"王""五",13800138000\n')}, {}, 1, 0, {}),
    ("blank_lines_skipped", {"a.csv": csv_bytes(HEADER + "\n1,a,1\n\n\n2,b,2\n,,\n")}, {}, 2, 0, {}),
    ("empty_file", {"a.csv": b""}, {"columns": ["id", "name", "mobile"]}, 0, 0, {}),
    ("header_only", {"a.csv": csv_bytes(HEADER)}, {}, 0, 0, {}),
    ("short_row", {"a.csv": csv_bytes(HEADER + "1,a\n2,b,2\n")}, {}, 2, 1, {"short_row": 1}),
    ("long_row", {"a.csv": csv_bytes(HEADER + "1,a,1,extra\n2,b,2\n3,c,3,\n")}, {}, 3, 2, {"long_row": 2}),
    ("scientific_notation_id", {"a.csv": csv_bytes("id,name\n3.50725E+17,a\n350725199001011234,b\n")},
     {"identifiers": ID}, 2, 1, {"identifier_scientific_notation:id": 1}),
    ("trailing_decimal_id", {"a.csv": csv_bytes("id,name\n123456.0,a\n123456,b\n")},
     {"identifiers": ID}, 2, 1, {"identifier_trailing_decimal:id": 1}),
    ("lost_leading_zeros", {"a.csv": csv_bytes("id,name\n12345,a\n0000012345,b\n")},
     {"identifiers": [{"column": "id", "width": 10}]}, 2, 1, {"identifier_lost_leading_zeros:id": 1}),
    ("fullwidth_scientific", {"a.csv": csv_bytes("id,name\n３．５０７２５Ｅ＋１７,a\n")},
     {"identifiers": ID}, 1, 1, {"identifier_scientific_notation:id": 1}),
    ("huge_field", {"a.csv": csv_bytes(HEADER + "1,a," + "9" * (1_100_000) + "\n2,b,2\n")}, {}, 2, 1,
     {"field_too_large:mobile": 1}),
    ("formula_text_in_csv_is_data", {"a.csv": csv_bytes(HEADER + '1,"=HYPERLINK(""http://x"")",+861\n')}, {}, 1, 0, {}),
    ("reordered_columns_second_file", {"a.csv": csv_bytes(HEADER + "1,a,1\n"),
                                        "b.csv": csv_bytes("mobile,id,name\n2,2,b\n")}, {}, 2, 0, {}),
    # delimiters Chinese exports use, and full-width commas that are only text
    ("fullwidth_comma_delimiter", {"a.csv": csv_bytes("id，name，mobile\n1，张三，13800138000\n2，李四，139\n")},
     {}, 2, 0, {}),
    ("fullwidth_comma_delimiter_gbk", {"a.csv": csv_bytes("id，name，mobile\n1，张三，13800138000\n", "gbk")},
     {}, 1, 0, {}),
    ("fullwidth_semicolon_delimiter", {"a.csv": csv_bytes("id；name；mobile\n1；张三；13800138000\n")}, {}, 1, 0, {}),
    ("fullwidth_commas_in_text_of_a_comma_file", {"a.csv": csv_bytes(
        HEADER + "1,你好，世界，再见,13800138000\n2,好的，谢谢,139\n3,无,1\n")}, {}, 3, 0, {}),
    ("tab_file_with_fullwidth_commas_in_text", {"a.tsv": csv_bytes("id\tname\n1\t张三，李四\n")}, {}, 1, 0, {}),
    ("semicolon_file_with_decimal_commas", {"a.csv": csv_bytes("id;amount\n1;1,5\n2;2,25\n")}, {}, 2, 0, {}),
    ("single_column_file", {"a.csv": csv_bytes("id\n1\n2\n")}, {}, 2, 0, {}),
    # spreadsheet exports with unused columns at the end
    ("excel_csv_trailing_empty_columns", {"a.csv": csv_bytes("id,name,mobile,,,\n1,a,1,,,\n2,b,2,,,\n")},
     {}, 2, 0, {}),
    ("excel_csv_trailing_columns_holding_a_value", {"a.csv": csv_bytes("id,name,mobile,,\n1,a,1,,\n2,b,2,x,\n")},
     {}, 2, 1, {"long_row": 1}),
    ("excel_csv_rows_shorter_than_the_padded_header", {"a.csv": csv_bytes("id,name,mobile,,\n1,a,1\n2,b,2,\n")},
     {}, 2, 0, {}),
    ("excel_csv_trailing_columns_beyond_the_header", {"a.csv": csv_bytes("id,name,mobile,\n1,a,1,,\n")},
     {}, 1, 1, {"long_row": 1}),
    ("xlsx_trailing_empty_header_cells", {"a.xlsx": xlsx_bytes(
        {"s": [["id", "name", "", None, " "], ["1", "a", None, None, None], ["2", "b", "", None, None]]})},
     {}, 2, 0, {}),
    # NUL bytes: no PostgreSQL text column holds one, so a restore would fail later
    ("nul_byte_in_csv_text", {"a.csv": csv_bytes(HEADER + "1,a\x00b,1\n2,b,2\n")}, {}, 2, 1,
     {"nul_character:name": 1}),
    ("nul_byte_in_an_identifier", {"a.csv": csv_bytes("id,name\n12\x003,a\n")}, {"identifiers": ID}, 1, 1,
     {"nul_character:id": 1}),
    ("nul_escape_in_jsonl", {"a.jsonl": b'{"id": "1", "name": "b"}\n{"id": "2", "name": "a\\u0000b"}\n'},
     {}, 2, 1, {"nul_character:name": 1}),
    # empty and header-only files: extracted, noted, the table keeps its columns
    ("empty_file_before_a_data_file", {"a.csv": b"", "b.csv": csv_bytes(HEADER + GOOD)}, {}, 2, 0, {}),
    ("header_only_file_beside_a_data_file", {"a.csv": csv_bytes(HEADER), "b.csv": csv_bytes(HEADER + GOOD)},
     {}, 2, 0, {}),
    ("blank_lines_only_file", {"a.csv": b"\n\r\n\n"}, {"columns": ["id", "name", "mobile"]}, 0, 0, {}),
    ("empty_jsonl_file", {"a.jsonl": b""}, {"columns": ["id", "name"]}, 0, 0, {}),
    ("xlsx_empty_sheet_beside_a_data_sheet", {"a.xlsx": xlsx_bytes({"empty": [], "s": [["id"], ["1"]]})},
     {}, 1, 0, {}),
    # headers that hold digits but are names, and a configured header the file repeats
    ("header_names_with_periods", {"a.csv": csv_bytes("id,2024Q1,销售额2024-01\n1,a,b\n")}, {}, 1, 0, {}),
    ("configured_header_that_looks_like_data", {"a.csv": csv_bytes("id,2024-01-01\n1,a\n")},
     {"columns": ["id", "2024-01-01"]}, 1, 0, {}),
    # identifiers in forms that are fine once normalised, and ones a spreadsheet damaged
    ("fullwidth_resident_id_with_x", {"a.csv": csv_bytes("id,name\n１１０１０５１９４９１２３１００２Ｘ,a\n")},
     {"identifiers": ID}, 1, 0, {}),
    ("scientific_notation_lower_case", {"a.csv": csv_bytes("id,name\n1.38001e+10,a\n")}, {"identifiers": ID},
     1, 1, {"identifier_scientific_notation:id": 1}),
    ("jsonl_mixed_problems", {"a.jsonl": csv_bytes(
        '{"id": 1, "name": "a", "amount": 12.50}\n'
        '{"id": 2, "name": "b"\n'
        '[1, 2]\n'
        '{"id": 3, "id": 4}\n'
        '{"id": 5, "name": "e", "amount": 1, "extra": true}\n'
        '\n'
        '{"id": 6, "name": null, "amount": {"x": [1, 2.50]}}\n')}, {}, 6, 4,
     {"invalid_json": 1, "not_an_object": 1, "duplicate_key": 1, "unexpected_field": 1}),
]


@pytest.mark.parametrize("name,files,table,rows,quarantined,reasons", OK_CASES, ids=[c[0] for c in OK_CASES])
def test_corpus_reconciles_with_expected_reasons(drop, name, files, table, rows, quarantined, reasons):
    for fname, data in files.items():
        drop.put(fname, data)
    tm = drop.run(**table)
    check(tm, rows, quarantined, reasons)
    staged = drop.rows(tm)
    assert staged.num_rows == rows - quarantined
    if quarantined:
        q = drop.quarantine(tm)
        assert q.num_rows == quarantined
        assert all(p > 1 for p in q.column(POSITION).to_pylist())  # line numbers, header is line 1
        assert all(q.column(RAW_RECORD).to_pylist())


def test_encodings_and_delimiters_are_recorded(drop):
    drop.put("a.csv", b"\xef\xbb\xbf" + csv_bytes(HEADER + GOOD))
    drop.put("b.csv", csv_bytes((HEADER + GOOD).replace(",", ";"), "gbk"))
    tm = drop.run()
    info = {f.name: (f.encoding, f.delimiter) for f in tm.extraction.files}
    assert info == {"a.csv": ("utf-8-sig", ","), "b.csv": ("gbk", ";")}
    assert drop.rows(tm).column("id").to_pylist() == ["1", "2", "1", "2"]
    assert drop.rows(tm).column("name").to_pylist() == ["张三", "李四", "张三", "李四"]
    assert all(len(f.sha256) == 64 and f.bytes > 0 for f in tm.extraction.files)


def test_embedded_newlines_keep_values_and_line_numbers(drop):
    drop.put("a.csv", csv_bytes(HEADER + '1,"张\n三",13800138000\n2,b\n'))
    tm = drop.run()
    check(tm, 2, 1, {"short_row": 1})
    assert drop.rows(tm).column("name").to_pylist() == ["张\n三"]
    assert drop.quarantine(tm).column(POSITION).to_pylist() == [4]  # the record after a 2-line record


def test_fullwidth_identifiers_are_normalised_and_raw_kept(drop):
    drop.put("a.csv", csv_bytes("id,mobile\n1,１３８　００１３　８０００\n2,\u3000139 0013 9000\u3000\n"))
    tm = drop.run(identifiers=[{"column": "mobile"}])
    check(tm, 2)
    rows = drop.rows(tm).to_pylist()
    assert [r["mobile"] for r in rows] == ["138 0013 8000", "139 0013 9000"]
    assert [r["mobile__raw"] for r in rows] == ["１３８　００１３　８０００", "\u3000139 0013 9000\u3000"]
    assert [c.name for c in tm.columns] == ["id", "mobile", "mobile__raw"]


def test_mangled_identifier_quarantine_keeps_raw_value(drop):
    drop.put("a.csv", csv_bytes("id,name\n3.50725E+17,a\n"))
    tm = drop.run(identifiers=ID)
    q = drop.quarantine(tm).to_pylist()[0]
    assert q["id"] is None and q["id__raw"] == "3.50725E+17"
    assert q[REASONS] == ["identifier_scientific_notation:id"]
    assert json.loads(q[RAW_RECORD]) == {"id": "3.50725E+17"}


def test_jsonl_numbers_keep_their_literal_text(drop):
    drop.put("a.jsonl", b'{"id": 1, "amount": 12.50, "nested": {"x": [1, 2.50]}, "ok": true}\n')
    tm = drop.run()
    row = drop.rows(tm).to_pylist()[0]
    assert row == {"id": "1", "amount": "12.50", "nested": '{"x":[1,2.50]}', "ok": "true"}


# -- XLSX ------------------------------------------------------------------------------------------
def test_xlsx_formula_cells_numbers_in_identifiers_and_long_rows(drop):
    import datetime as dt

    data = xlsx_bytes(
        {"客户": [["id", "name", "born"], ["350725199001011234", "张三", dt.date(1990, 1, 1)],
                  [350725199001011234, "李四", None], ["3", "王五", None, "stray"], ["4", None, None],
                  [None, None, None], ["5", "赵六", dt.datetime(2024, 5, 6, 7, 8, 9)]]},
        formulas={("客户", "B5"): "=1+1"},
    )
    drop.put("a.xlsx", data)
    tm = drop.run(identifiers=ID)
    check(tm, 5, 3, {"identifier_stored_as_number:id": 1, "long_row": 1, "formula_cell:name": 1})
    good = drop.rows(tm).to_pylist()
    assert [r["born"] for r in good] == ["1990-01-01", "2024-05-06T07:08:09"]
    assert tm.extraction.files[0].sheet == "客户"


def test_xlsx_every_sheet_or_named_sheets(drop):
    drop.put("a.xlsx", xlsx_bytes({"s1": [["id"], ["1"]], "s2": [["id"], ["2"], ["3"]], "s3": [["id"], ["9"]]}))
    check(drop.run(), 4)
    tm = drop.run(sheets=["s2"], run_id="run-2")
    check(tm, 2)
    with pytest.raises(ExtractError, match="sheet\\(s\\) not found: nope"):
        drop.run(sheets=["nope"], run_id="run-3")


# -- cases that must fail, naming the line or the columns ------------------------------------------
ERROR_CASES = [
    ("fullwidth_twin_header", {"a.csv": csv_bytes("id,mobile,ｍｏｂｉｌｅ\n1,a,b\n")}, SchemaError,
     "differ only in case, width or punctuation: positions 2 / 3"),
    ("fullwidth_twin_id", {"a.csv": csv_bytes("ＩＤ,id\n1,2\n")}, SchemaError,
     "differ only in case, width or punctuation: positions 1 / 2"),
    ("ideographic_space_twin", {"a.csv": csv_bytes("name,na\u3000me\n1,2\n")}, SchemaError,
     "differ only in case, width or punctuation: positions 1 / 2"),
    ("header_field_holding_a_fullwidth_comma", {"a.csv": csv_bytes("id,姓名，电话\n1,张三，13800138000\n")},
     ExtractError, "position(s) 2 hold a delimiter other than ','"),
    ("configured_delimiter_that_is_not_the_files", {"a.csv": csv_bytes(HEADER + GOOD)}, ExtractError,
     "position(s) 1 hold a delimiter other than ';'", {"delimiter": ";"}),
    ("headerless_file", {"a.csv": csv_bytes("1,张三,13800138000\n2,李四,13900139000\n")}, SchemaError,
     "the first row looks like data, not a header (a number, e-mail address or long digit string at position(s) 1, 3)"),
    ("header_of_a_full_date", {"a.csv": csv_bytes("id,2024-01-01\n1,a\n")}, SchemaError,
     "the first row looks like data, not a header (a number, e-mail address or long digit string at "
     "position(s) 2)"),
    ("headerless_second_file", {"a.csv": csv_bytes(HEADER + GOOD), "b.csv": csv_bytes("3,王五,13700137000\n")},
     SchemaError, "b.csv: the first row looks like data"),
    ("headerless_file_with_configured_columns", {"a.csv": csv_bytes("1,张三,13800138000\n")}, SchemaError,
     "a.csv: the first row looks like data", {"columns": ["id", "name", "mobile"]}),
    ("header_of_email_addresses", {"a.csv": csv_bytes("name,contact\n")
                                   + csv_bytes("zhang,zhang@example.com\n"), "b.csv": csv_bytes(
                                       "li,li@example.com\n")}, SchemaError, "b.csv: the first row looks like data"),
    ("xlsx_headerless_sheet", {"a.xlsx": xlsx_bytes({"s": [["1", "张三", "13800138000"]]})}, SchemaError,
     "the first row looks like data"),
    ("xlsx_sheets_with_different_headers", {"a.xlsx": xlsx_bytes({"s1": [["id", "name"], ["1", "a"]],
                                                                  "s2": [["id", "mail"], ["2", "b"]]})},
     SchemaError, "sheet 's2': header differs from the table's columns (missing: name; unexpected: field(s) "
                  "at position(s) 2)"),
    ("nul_byte_in_header", {"a.csv": csv_bytes("id,na\x00me\n1,a\n")}, SchemaError,
     "control character in the column name at position(s) 2"),
    ("empty_header_cell_before_trailing_empties", {"a.csv": csv_bytes("id,,name,,\n1,a,b,,\n")}, SchemaError,
     "empty column name at position(s) 2"),
    ("declared_encoding_that_does_not_fit", {"a.csv": csv_bytes(HEADER + "1,𠮷,1\n")}, ExtractError,
     "line 2 is not valid gbk", {"encoding": "gbk"}),
    ("mixed_utf8_then_gbk", {"a.csv": csv_bytes(HEADER + "1,张三,1\n") + csv_bytes("2,李四,2\n", "gbk")},
     ExtractError, "mixed encodings: line 3 is gb18030, earlier lines are utf-8"),
    ("mixed_gbk_then_utf8", {"a.csv": csv_bytes(HEADER + "1,张三,1\n", "gbk") + csv_bytes("2,李四,2\n")},
     ExtractError, "mixed encodings: line 3 is utf-8, earlier lines are gb18030"),
    ("undecodable_bytes", {"a.csv": csv_bytes(HEADER) + b"1,\xff\xfe\xff,1\n"}, ExtractError,
     "line 2 is neither UTF-8 nor GB18030"),
    ("utf16", {"a.csv": "id\n1\n".encode("utf-16")}, ExtractError, "UTF-16 files are not supported"),
    ("unterminated_quote", {"a.csv": csv_bytes(HEADER + '1,"a,1\n2,b,2\n')}, ExtractError,
     "malformed quoting in the record starting at line 2"),
    ("duplicate_headers", {"a.csv": csv_bytes("id,name,name\n1,a,b\n")}, SchemaError,
     "duplicate column names: positions 2 / 3"),
    ("case_variant_headers", {"a.csv": csv_bytes("id,Mobile,mobile\n1,a,b\n")}, SchemaError,
     "differ only in case, width or punctuation: positions 2 / 3"),
    ("empty_header_cell", {"a.csv": csv_bytes("id,,name\n1,a,b\n")}, SchemaError, "empty column name at position"),
    ("schema_drift_second_file", {"a.csv": csv_bytes(HEADER + "1,a,1\n"), "b.csv": csv_bytes("id,name,email\n2,b,x\n")},
     SchemaError, "b.csv: header differs from the table's columns (missing: mobile; unexpected: field(s) at "
                  "position(s) 3)"),
    ("unknown_extension", {"a.dat": b"id\n1\n"}, ExtractError, "cannot tell the format from .dat"),
    ("not_a_workbook", {"a.xlsx": b"PK\x03\x04 not really a zip"}, ExtractError, "not a readable XLSX workbook"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_corpus_errors_name_the_line_or_columns(drop, case):
    name, files, exc, message, *table = case
    for fname, data in files.items():
        drop.put(fname, data)
    with pytest.raises(exc) as info:
        drop.run(**(table[0] if table else {}))
    assert message in str(info.value)
    assert info.value.__cause__ is None


def test_errors_and_quarantine_never_carry_values(drop):
    secret = "350725199001011234"
    drop.put("a.csv", csv_bytes(f"id,name\n{secret},张三\n") + f"{secret},李四\n".encode("gbk"))
    with pytest.raises(ExtractError) as info:
        drop.run()
    assert secret not in str(info.value)
    drop.put("a.csv", csv_bytes(f"id,name\n{secret}.0,a\n"))
    tm = drop.run(identifiers=ID, run_id="run-2")
    assert secret not in tm.model_dump_json()


# -- values a SQL type would refuse are kept exactly as sent: a file drop stages text -------------------
EXACT_CASES = [
    ("dates_that_do_not_exist", "0000-00-00|2023-02-30|4714-11-24 BC|infinity|10000-01-01"),
    ("times_beyond_a_clock_day", "838:59:59|-01:00:00|24:00:00|23:59:59.9999999"),
    ("numbers_a_float_would_change", "-0|0.30000000000000004|1e309|9223372036854775808|NaN|007"),
    ("booleans_in_many_spellings", "true|false|no|2|t|是"),
    ("text_that_looks_like_formulas", "+86 138|-5|@SUM(A1)|-2+3"),
    ("whitespace_kept_inside_text", " 前后有空格 |a\u3000b|tab\there"),
]


@pytest.mark.parametrize("name,cells", EXACT_CASES, ids=[c[0] for c in EXACT_CASES])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_corpus_values_are_staged_exactly_as_sent(drop, name, cells, fmt):
    values = cells.split("|")
    if fmt == "csv":
        body = "id,v\n" + "".join(f'{i},"{v}"\n' for i, v in enumerate(values))
        drop.put("a.csv", csv_bytes(body))
    elif fmt == "jsonl":
        drop.put("a.jsonl", "".join(json.dumps({"id": str(i), "v": v}, ensure_ascii=False) + "\n"
                                    for i, v in enumerate(values)).encode())
    else:
        drop.put("a.xlsx", xlsx_bytes({"s": [["id", "v"]] + [[str(i), v] for i, v in enumerate(values)]}))
    tm = drop.run()
    check(tm, len(values))
    assert drop.rows(tm).column("v").to_pylist() == values


def test_empty_and_header_only_files_are_noted_and_keep_the_table_columns(drop, caplog):
    drop.put("a.csv", b"")
    drop.put("b.csv", csv_bytes(HEADER))
    with caplog.at_level("WARNING"):
        tm = drop.run()
    check(tm, 0)
    assert [c.name for c in tm.columns] == ["id", "name", "mobile"]
    assert {f.name: f.note for f in tm.extraction.files} == {"a.csv": "empty", "b.csv": "header only"}
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("a.csv has no data rows (empty)" in m for m in warned)
    assert any("b.csv has no data rows (header only)" in m for m in warned)


def test_fullwidth_comma_files_are_split_into_their_columns(drop):
    drop.put("a.csv", csv_bytes("id，name，mobile\n1，张三，13800138000\n"))
    drop.put("b.csv", csv_bytes(HEADER + "2,你好，世界,13900139000\n"))
    tm = drop.run()
    assert [c.name for c in tm.columns] == ["id", "name", "mobile"]
    assert {f.name: f.delimiter for f in tm.extraction.files} == {"a.csv": "\uff0c", "b.csv": ","}
    assert drop.rows(tm).column("name").to_pylist() == ["张三", "你好，世界"]


def test_trailing_empty_columns_are_dropped_and_noted(drop):
    drop.put("a.csv", csv_bytes("id,name,mobile,,,\n1,a,1,,,\n"))
    tm = drop.run()
    assert [c.name for c in tm.columns] == ["id", "name", "mobile"]
    assert tm.extraction.files[0].note == "3 empty trailing column(s) dropped"


def test_corpus_has_at_least_sixty_bad_inputs():
    # Every input of the parametrised tables has its expected reasons or error (the exact-text
    # cases once per format); the SQL corpus is the type matrix in test_type_matrix.py.
    assert len(OK_CASES) + len(ERROR_CASES) + 3 * len(EXACT_CASES) >= 60
