"""The deletion ledger: who was erased, as pseudonyms, and the filter every restore applies.

``dsr_ledger`` holds one row per identifier of every executed deletion request: its kind
(``resident_id``, ``mobile_phone``, ``email``), its keyed pseudonym under ``custody/dsr``
(``custody.dsr.subjects``), the request id and the source it was limited to (None: every
source). Never the identifier.

Backups are immutable (Object Lock, content-addressed snapshots) and expire by retention, so a
snapshot taken before a deletion still holds the subject until it expires (PIPL Art 47: where
deletion is technically impossible, stop all processing but storage). What Custody guarantees
instead is that nothing restored from it releases the subject again: ``ErasureFilter`` drops, from
every chunk a restore reads, the rows

1. **matched directly**: a row whose identifier column (a column the snapshot's classification
   types as resident ID, driving licence, mobile, phone or e-mail; every text column when the
   snapshot has no classification) has a pseudonym in the ledger;
2. **matched by key**: a row of a table *without identifier columns of its own* holding, in a
   column named like the single-column primary key of a table with matched rows
   (``custody.naming.column_key``; never a bare ``id``), one of those rows' key values: a
   contact's bank accounts go with the contact. This closes transitively (an invoice's lines by
   ``invoice_id``...). A table whose classification shows identifier columns identifies its own
   subjects and is judged by them alone, so other people's contact rows never go with a
   company whose phone number happened to be the subject's; without a classification every
   table is open to the cascade (dropping too much is the safe side of a restore).

``ErasureFilter.prepare`` finds the key values with a pre-pass over the tables involved (each
chunk authenticated as in any restore); ``apply`` then filters chunk by chunk and counts what it
dropped. Counts only ever leave: the key values stay in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from custody.catalog.schema import dsr_ledger
from custody.dsr.subjects import COLUMN_TYPES, pseudonymizer
from custody.naming import column_key


class DeletionLedger:
    """The ``dsr_ledger`` table of the catalog at ``url`` (URL or engine).

    Raises ``CatalogNotMigrated`` when the catalog is not at this Custody's revision.
    """

    def __init__(self, url: str | sa.Engine) -> None:
        from custody.catalog import require_head

        self.engine = url if isinstance(url, sa.Engine) else sa.create_engine(url)
        require_head(self.engine)

    def record(self, request_id: str, pseudonyms: dict[str, str], *, source: str | None = None) -> int:
        """Add a request's pseudonyms (``{kind: 32-hex}``); idempotent. Returns rows added."""
        now = datetime.now(UTC)
        added = 0
        with self.engine.begin() as conn:
            have = {(r.pi_type, r.pseudonym) for r in conn.execute(
                sa.select(dsr_ledger.c.pi_type, dsr_ledger.c.pseudonym).where(dsr_ledger.c.request_id == request_id))}
            for kind, token in sorted(pseudonyms.items()):
                if (kind, token) in have:
                    continue
                conn.execute(sa.insert(dsr_ledger).values(pi_type=kind, pseudonym=token, request_id=request_id,
                                                          source=source, recorded_at=now))
                added += 1
        return added

    def pseudonyms(self, source: str | None = None) -> dict[str, set[str]]:
        """``{kind: {pseudonym}}`` that apply to ``source`` (rows limited to it or to every source)."""
        stmt = sa.select(dsr_ledger.c.pi_type, dsr_ledger.c.pseudonym)
        if source is not None:
            stmt = stmt.where(sa.or_(dsr_ledger.c.source.is_(None), dsr_ledger.c.source == source))
        out: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for kind, token in conn.execute(stmt):
                out.setdefault(kind, set()).add(token)
        return out

    def size(self) -> int:
        """Rows in the ledger."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(dsr_ledger)).scalar_one())


def ledger_filter(keyring: Any, source: str) -> ErasureFilter | None:
    """The ledger's filter for ``source`` from the catalog that holds ``keyring``'s key store.

    A ``ScopedKeyring`` lives in the catalog (its ``engine``), and so does the ledger: every
    restore that can decrypt a snapshot through the key store reads the ledger of that key store.
    Returns None for a keyring without a key store (a bare key file: tests and tools that never
    see a catalog) or an empty ledger. Raises ``CatalogNotMigrated``: a restore never releases
    rows when the ledger cannot be read.
    """
    engine = getattr(keyring, "engine", None)
    if not isinstance(engine, sa.Engine):
        return None
    wanted = DeletionLedger(engine).pseudonyms(source)
    return ErasureFilter(wanted, keyring) if wanted else None


class ErasureFilter:
    """Drops the rows of ledgered subjects from a snapshot's or a run's tables (module docstring).

    ``pseudonyms``: ``{kind: {32-hex}}``; ``keyring``: computes the row pseudonyms (``custody/dsr``).
    Call ``prepare`` once with every table of the snapshot, then ``apply`` per chunk.
    """

    def __init__(self, pseudonyms: dict[str, set[str]], keyring: Any) -> None:
        self.pseudonyms = {k: set(v) for k, v in pseudonyms.items() if v}
        self._p = pseudonymizer(keyring)
        self._columns: dict[str, list[tuple[str, str]]] = {}
        self._own_ids: set[str] = set()  # tables whose classification shows identifier columns
        self._matched: dict[str, set[Any] | None] = {}  # table -> key values of its matched rows
        self._pk: dict[str, str | None] = {}
        self.keys: dict[str, set[Any]] = {}  # column key -> key values of matched rows
        self.dropped: dict[str, int] = {}

    # -- which columns ---------------------------------------------------------------------------
    def _identifier_columns(self, table: str, schema: pa.Schema, classification: Any) -> list[tuple[str, str]]:
        typed = {c.column: c.pi_type for c in classification.columns_of(table)} if classification else {}
        if any(t in COLUMN_TYPES for t in typed.values()):
            self._own_ids.add(table)
        out: list[tuple[str, str]] = []
        for f in schema:
            if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)):
                continue
            if typed:
                kind = COLUMN_TYPES.get(typed.get(f.name) or "")
                if kind in self.pseudonyms:
                    out.append((f.name, kind))
            else:  # no classification: every text column, as every kind in the ledger
                out += [(f.name, k) for k in sorted(self.pseudonyms)]
        return out

    def learn(self, table: str, schema: pa.Schema, primary_key: list[str], classification: Any) -> None:
        """Register a table: its identifier columns and its cascading key (single-column, not ``id``)."""
        self._columns[table] = self._identifier_columns(table, schema, classification)
        pk = primary_key[0] if len(primary_key) == 1 and column_key(primary_key[0]) != "id" else None
        self._pk[table] = pk

    # -- matching --------------------------------------------------------------------------------
    def _mask(self, table: str, chunk: pa.Table) -> pa.Array:
        mask = pa.array([False] * chunk.num_rows, pa.bool_())
        for name, kind in self._columns.get(table, []):
            if name not in chunk.column_names:
                continue
            tokens = self._p.tokens(kind, chunk[name])
            hit = pc.is_in(tokens, value_set=pa.array(sorted(self.pseudonyms[kind]), pa.string()))
            mask = pc.or_(mask, pc.fill_null(hit, False))
        for name in chunk.column_names if table not in self._own_ids else ():
            values = self.keys.get(column_key(name))
            if values:
                col = chunk[name]
                try:
                    value_set = pa.array(sorted(values), col.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    continue
                mask = pc.or_(mask, pc.fill_null(pc.is_in(col, value_set=value_set), False))
        return mask

    def prepare(self, tables: Iterable[tuple[str, pa.Schema, list[str]]], classification: Any,
                read: Callable[[str], Iterator[pa.Table]]) -> None:
        """Learn every table and collect the key values of matched rows until nothing new is found.

        ``tables``: ``(name, Arrow schema, primary key)``; ``read(name)``: the table's checked chunks.
        A table is read again only when a key that can match its rows gained values (never its
        own key, and none for a table judged by its own identifiers). A table read here keeps the
        key values of its matched rows, so ``apply`` tests key membership instead of computing
        pseudonyms again (unless a matched row had no key).
        """
        tables = list(tables)
        for name, schema, pk in tables:
            self.learn(name, schema, pk, classification)
        relevant = {}
        for name, schema, _ in tables:
            own = column_key(self._pk[name]) if self._pk[name] else None
            relevant[name] = [] if name in self._own_ids else sorted(
                {column_key(f.name) for f in schema} - {own})
        seen: dict[str, tuple] = {}
        for _ in range(len(tables) + 1):
            grown = False
            for name, _schema, _pk in tables:
                state = tuple(len(self.keys.get(k, ())) for k in relevant[name])
                if not self._columns[name] and not any(state):
                    continue
                if seen.get(name) == state:
                    continue
                seen[name] = state
                pk = self._pk[name]
                if pk is None:
                    continue
                found: set[Any] = set()
                exact = True
                for chunk in read(name):
                    keys = chunk.filter(self._mask(name, chunk))[pk]
                    exact = exact and keys.null_count == 0
                    found.update(v for v in keys.to_pylist() if v is not None)
                self._matched[name] = found if exact else None
                have = self.keys.setdefault(column_key(pk), set())
                if not found <= have:
                    have |= found
                    grown = True
            if not grown:
                return

    def apply(self, table: str, chunk: pa.Table) -> tuple[pa.Table, int]:
        """``(chunk without the ledgered subjects' rows, rows dropped)``; counts add up in ``dropped``."""
        if table not in self._columns:
            self.learn(table, chunk.schema, [], None)
        matched, pk = self._matched.get(table), self._pk.get(table)
        if matched is not None and pk in chunk.column_names:
            col = chunk[pk]
            mask = pc.fill_null(pc.is_in(col, value_set=pa.array(sorted(matched), col.type)), False)
        else:
            mask = self._mask(table, chunk)
        n = pc.sum(mask).as_py() or 0
        if not n:
            return chunk, 0
        self.dropped[table] = self.dropped.get(table, 0) + n
        return chunk.filter(pc.invert(mask)), n

    def matches_mask(self, table: str, chunk: pa.Table) -> pa.Array:
        """Boolean mask of the rows of ``chunk`` that belong to the subjects (nothing counted)."""
        if table not in self._columns:
            self.learn(table, chunk.schema, [], None)
        return self._mask(table, chunk)

    def matches(self, table: str, chunk: pa.Table) -> pa.Table:
        """The rows of ``chunk`` that belong to the subjects (what an access request exports)."""
        if table not in self._columns:
            self.learn(table, chunk.schema, [], None)
        return chunk.filter(self._mask(table, chunk))
