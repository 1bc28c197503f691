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
