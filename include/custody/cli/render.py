"""Tables that stay readable on a narrow terminal: ids and numbers are never cut or folded.

A table is printed when it fits the console's width; otherwise each row becomes a block: its
first cell (an id to copy into the next command) on a line of its own, then ``header value``
pairs, folded between pairs only. 80 columns is the width the tests hold the commands to.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def number(n: int | float | None) -> str:
    """A count with thousands separators (``12,345``); ``-`` for unknown."""
    if n is None:
        return "-"
    return f"{n:,}" if isinstance(n, int) else f"{n:,.1f}"


def print_rows(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]], *,
               numeric: Sequence[str] = (), wrap: Sequence[str] = (), title: str | None = None) -> None:
    """Print ``rows`` under ``headers`` as a table, or as one block per row when the table would
    be wider than ``console``. Columns named in ``numeric`` are right-aligned; only columns named
    in ``wrap`` (free text such as reasons) may fold inside a cell."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=title, title_justify="left")
    for h in headers:
        table.add_column(h, justify="right" if h in numeric else "left", no_wrap=h not in wrap,
                         overflow="fold")
    for row in rows:
        table.add_row(*row)
    # Measured unconstrained: rich caps a measurement at the width it is given.
    widest = Measurement.get(console, console.options.update_width(10_000), table).maximum
    if widest <= console.width:
        console.print(table)
        return
    if title:
        console.print(title, highlight=False)
    for row in rows:
        console.print(Text(row[0], no_wrap=True, overflow="ignore"), soft_wrap=True)
        pairs = [f"{h} {v}" for h, v in zip(headers[1:], row[1:]) if v]
        _print_pairs(console, pairs)


def _print_pairs(console: Console, pairs: list[str], indent: str = "    ") -> None:
    """``pairs`` joined by `` · ``, folded between pairs (never inside one) at the console width."""
    line = indent
    for p in pairs:
        add = p if line == indent else f" · {p}"
        if line != indent and len(line) + len(add) > console.width:
            console.print(line, highlight=False, soft_wrap=True)
            line, add = indent, p
        line += add
    if line != indent:
        console.print(line, highlight=False, soft_wrap=True)
