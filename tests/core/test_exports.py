"""Restore output files (custody.exports): spreadsheets that cannot run formulas."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa


def test_xlsx_export_neutralises_formulas_and_keeps_long_numbers(tmp_path):
    import openpyxl

    from custody.exports import write_tables

    t = pa.table({"text": ["=1+1", "+86 138", "-x", "@SUM(A1)", "\tx", "ok"],
                  "n": pa.array([1, 12345678901234567, -3, None, 0, 5], pa.int64()),
                  "m": pa.array([Decimal("1.10")] * 6, pa.decimal128(20, 2))})
    path = tmp_path / "out.xlsx"
    assert write_tables([t], path, "xlsx", t.schema) == 6
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0] == ("text", "n", "m")
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'+86 138", "'-x", "'@SUM(A1)", "'\tx", "ok"]
    assert rows[2][1] == "12345678901234567" and rows[1][1] == 1 and rows[3][1] == -3
    cells = list(openpyxl.load_workbook(path).active.iter_rows())
    assert all(c[0].data_type == "s" for c in cells)


def test_csv_keeps_plain_numbers_and_neutralises_formulas_and_header_cells(tmp_path):
    import csv

    from custody.exports import write_tables

    # Text columns as file drops stage them: numbers arrive as text, and so do column names.
    t = pa.table({"=HYPERLINK(\"http://x\")": ["-12.5", "+3", "-1,234.50", "1e-3", "-", "-1+2", "=1+1", "@x"],
                  "amount": ["-7", "-0.01", "+86 138", "-x", "\t9", "ok", None, "-2+3+cmd|' /C calc'!A0"],
                  "n": pa.array([-1, -2, -3, 4, 5, 6, 7, 8], pa.int64())})
    path = tmp_path / "out.csv"
    assert write_tables([t], path, "csv", t.schema) == 8
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["'=HYPERLINK(\"http://x\")", "amount", "n"]
    assert [r[0] for r in rows[1:]] == ["-12.5", "+3", "-1,234.50", "1e-3", "'-", "'-1+2", "'=1+1", "'@x"]
    assert [r[1] for r in rows[1:]] == ["-7", "-0.01", "'+86 138", "'-x", "'\t9", "ok", "",
                                        "'-2+3+cmd|' /C calc'!A0"]
    assert [r[2] for r in rows[1:]] == ["-1", "-2", "-3", "4", "5", "6", "7", "8"]
    assert text.splitlines()[0] == '"\'=HYPERLINK(""http://x"")","amount","n"'  # quoted as Arrow quotes cells


def test_xlsx_keeps_plain_numbers_as_they_are(tmp_path):
    import openpyxl

    from custody.exports import write_tables

    t = pa.table({"-x": ["-12.5", "=1", "-1+2"]})
    path = tmp_path / "out.xlsx"
    write_tables([t], path, "xlsx", t.schema)
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert rows == [("'-x",), ("-12.5",), ("'=1",), ("'-1+2",)]
