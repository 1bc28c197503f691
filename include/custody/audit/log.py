"""The append-only audit log in the catalog database: one function appends, readers page through it.

Tables ``audit_entry`` and ``audit_head`` of ``custody.catalog.schema`` (``docs/format.md``
section 8.2). Every appender, in one transaction:

1. moves the head row ``main`` to ``size + 1`` with ``UPDATE ... RETURNING``; the update locks
   the row until commit (PostgreSQL: a row lock, as ``SELECT ... FOR UPDATE`` takes; SQLite: the
   database write lock, taken at ``BEGIN IMMEDIATE``), so concurrent appenders (Celery workers,
   the CLI, the listener) queue up instead of forking the sequence;
2. takes ``seq`` = the old size and the time, builds the entry, hashes its leaf (RFC 9162);
3. inserts the entry row.

A crash before the commit leaves neither, so sequence numbers have no gaps, duplicates or forks,
and the lock is held for two statements and the commit. ``custody.audit.verify`` recomputes
every leaf and the tree from the entries themselves; the head's size only says where the log ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from custody.audit.entries import Actor, AuditEntry, utc_now
from custody.catalog.schema import audit_entry, audit_head

HEAD_ID = "main"
PAGE = 5000


class AuditLogError(Exception):
    """The audit log cannot be written or read as expected (head row missing, head out of step)."""


@dataclass(frozen=True)
class StoredEntry:
    """One ``audit_entry`` row as stored: ``data`` is the entry's bytes, ``leaf_hash`` as recorded."""

    seq: int
    recorded_at: datetime
    action: str
    outcome: str
    actor: str
    source: str | None
    run_key: str | None
    data: bytes
    leaf_hash: str

    def computed_leaf(self) -> bytes:
        """``SHA-256(0x00 || data)``, recomputed from the stored bytes."""
        return hashlib.sha256(b"\x00" + self.data).digest()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _engine(url: str | sa.Engine | sa.URL) -> sa.Engine:
    """An engine of its own for the log: SQLite connections take the write lock at ``BEGIN``."""
    if isinstance(url, sa.Engine):
        url = url.url
    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite":
        return sa.create_engine(u)
    # One connection per use: tests and CLI calls open many catalogs; nothing stays open.
    engine = sa.create_engine(u, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # IMMEDIATE: the write lock at the start, so two appenders never read the same head.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class AuditLog:
    """The audit log in the catalog at ``url`` (SQLAlchemy URL or engine; its URL is reused).

    Raises ``custody.catalog.CatalogNotMigrated`` when the catalog is not at the schema revision
    this Custody needs (one query; nothing is created). ``dispose`` closes its connections.
    """

    def __init__(self, url: str | sa.Engine | sa.URL) -> None:
        from custody.catalog import require_head

        self.engine = _engine(url)
        try:
            require_head(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    # -- append ----------------------------------------------------------------------------------
    def append(
        self,
        action: str,
        *,
        actor: Actor | None = None,
        outcome: str = "success",
        subject: dict[str, Any] | None = None,
        counts: dict[str, int] | None = None,
        hashes: dict[str, str] | None = None,
        key_ids: list[str] | None = None,
        policy_version: str | None = None,
        data_subject: str | None = None,
        refs: list[str] | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry (``custody.audit.entries.AuditEntry`` fields) and return it with its ``seq``.

        ``actor``: default ``Actor.from_env()`` (the Airflow task, or ``user@host``). ``subject``
        values are turned into strings and ``None`` values dropped. Raises
        ``pydantic.ValidationError`` for fields outside the entry vocabulary (nothing is written),
        ``AuditLogError`` when the head row is missing, SQLAlchemy errors for the database.
        Serialised with every other appender (module docstring).
        """
        draft = AuditEntry(
            seq=0, at=utc_now(), actor=actor or Actor.from_env(), action=action, outcome=outcome,
            subject={k: str(v) for k, v in (subject or {}).items() if v is not None},
            counts=counts or {}, hashes=hashes or {}, key_ids=sorted(set(key_ids or [])),
            policy_version=policy_version, data_subject=data_subject, refs=list(refs or []), reason=reason,
            details=details or {},
        )
        with self.engine.begin() as conn:
            size = conn.execute(
                sa.update(audit_head).where(audit_head.c.log_id == HEAD_ID)
                .values(size=audit_head.c.size + 1, updated_at=datetime.now(UTC)).returning(audit_head.c.size)
            ).scalar_one_or_none()
            if size is None:
                raise AuditLogError("audit_head has no row 'main': the catalog was not migrated by Custody")
            seq = int(size) - 1
            # Time taken under the lock, so times never run backwards along the sequence.
            entry = draft.model_copy(update={"seq": seq, "at": utc_now()})
            data = entry.encode()
            conn.execute(sa.insert(audit_entry).values(
                seq=seq, recorded_at=datetime.fromisoformat(entry.at),
                action=entry.action, outcome=entry.outcome, actor=entry.actor.label()[:400],
                source=entry.source, run_key=entry.run_key, entry=data.decode("utf-8"),
                leaf_hash=entry.leaf_hash().hex(),
            ))
        return entry

    # -- read ------------------------------------------------------------------------------------
    def size(self) -> int:
        """Number of entries according to the head row (0 when it is missing)."""
        with self.engine.connect() as conn:
            size = conn.execute(sa.select(audit_head.c.size).where(audit_head.c.log_id == HEAD_ID)).scalar()
        return int(size or 0)

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        """Stored entries with ``start <= seq < end`` (``end`` None: to the last), in ``seq`` order.

        Pages of 5,000 rows by key (memory O(page)); rows are yielded as stored, gaps and all.
        """
        c = audit_entry.c
        last = start - 1
        while True:
            stmt = sa.select(audit_entry).where(c.seq > last).order_by(c.seq).limit(PAGE)
            if end is not None:
                stmt = stmt.where(c.seq < end)
            with self.engine.connect() as conn:
                page = conn.execute(stmt).all()
            for r in page:
                yield StoredEntry(int(r.seq), _utc(r.recorded_at), r.action, r.outcome, r.actor, r.source,
                                  r.run_key, r.entry.encode("utf-8"), r.leaf_hash)
            if len(page) < PAGE:
                return
            last = int(page[-1].seq)

    def stored_leaves(self, end: int | None = None) -> list[bytes]:
        """The ``leaf_hash`` column as recorded (not recomputed), ``seq`` 0 up to ``end`` (exclusive).

        Reads only that column, in pages; what a checkpoint signer needs. Verification recomputes.
        """
        c = audit_entry.c
        out: list[bytes] = []
        last = -1
        while True:
            stmt = sa.select(c.seq, c.leaf_hash).where(c.seq > last).order_by(c.seq).limit(PAGE * 10)
            if end is not None:
                stmt = stmt.where(c.seq < end)
            with self.engine.connect() as conn:
                page = conn.execute(stmt).all()
            out.extend(bytes.fromhex(r.leaf_hash) for r in page)
            if len(page) < PAGE * 10:
                return out
            last = int(page[-1].seq)

    def leaf_hashes(self, end: int | None = None) -> list[bytes]:
        """Leaves recomputed from the stored entry bytes, ``seq`` 0 up to ``end`` (exclusive)."""
        return [r.computed_leaf() for r in self.rows(0, end)]

    def find(
        self,
        *,
        source: str | None = None,
        run_key: str | None = None,
        actions: list[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[StoredEntry]:
        """Stored entries matching every filter given, by ``seq``.

        ``actions``: exact names, or a prefix ending in ``.`` (``extract.``); ``actor``: a
        substring of the actor label; ``since``/``until``: UTC bounds of ``recorded_at``
        (inclusive, exclusive); ``first``: lowest ``seq``; ``limit``: at most that many rows
        (the newest when ``newest_first``, returned in that order).
        """
        c = audit_entry.c
        stmt = sa.select(audit_entry)
        if source is not None:
            stmt = stmt.where(c.source == source)
        if run_key is not None:
            stmt = stmt.where(c.run_key == run_key)
        if actions:
            exact = [a for a in actions if not a.endswith(".")]
            prefixes = [a for a in actions if a.endswith(".")]
            stmt = stmt.where(sa.or_(c.action.in_(exact), *[c.action.startswith(p, autoescape=True)
                                                             for p in prefixes]))
        if actor:
            stmt = stmt.where(c.actor.contains(actor, autoescape=True))
        if since is not None:
            stmt = stmt.where(c.recorded_at >= since)
        if until is not None:
            stmt = stmt.where(c.recorded_at < until)
        if first is not None:
            stmt = stmt.where(c.seq >= first)
        stmt = stmt.order_by(c.seq.desc() if newest_first else c.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [StoredEntry(int(r.seq), _utc(r.recorded_at), r.action, r.outcome, r.actor, r.source,
                                r.run_key, r.entry.encode("utf-8"), r.leaf_hash) for r in conn.execute(stmt)]

    def run_range(self, source: str, run_key: str) -> tuple[int, int] | None:
        """``(first seq, last seq)`` of the entries about one run, or None."""
        c = audit_entry.c
        with self.engine.connect() as conn:
            lo, hi = conn.execute(
                sa.select(sa.func.min(c.seq), sa.func.max(c.seq)).where(c.source == source, c.run_key == run_key)
            ).one()
        return None if lo is None else (int(lo), int(hi))
