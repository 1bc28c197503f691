"""The catalog schema: every table of Custody's own state database, in one ``sa.MetaData``.

This module is the only place in ``custody`` that defines catalog tables; the modules that query
them import the ``sa.Table`` objects from here. The database itself is built by the Alembic
migrations in ``custody/catalog/migrations/versions/`` (``custody catalog migrate``), never by
``metadata.create_all``; a test migrates empty SQLite and PostgreSQL databases and asserts that
``alembic.autogenerate.compare_metadata`` finds no difference with ``metadata``. A change here
therefore needs a new migration, and a new migration needs the matching change here.

Tables, by owner (rows hold names, ids, levels, counts, hashes, times; never a source value):

==============================  ==============================================  ====================
table                           what                                            used by
==============================  ==============================================  ====================
``inventory_column``            per source column: PI type, level, evidence     ``custody.catalog``
``inventory_run``               per classified run: drift found                 ``classification.inventory``
``inventory_event``             column history (new, level change, vanished)    ``classification.inventory``
``inventory_vanished``          columns that left their table                   ``classification.inventory``
``crypto_key``                  scope, seal and deal keys (tombstones kept)     ``crypto.scopes``
``crypto_key_wrap``             each key wrapped under a KEK                    ``crypto.scopes``
``snapshot_retention_plan``     retention plans                                 ``store.ledger``
``snapshot_retention_decision`` keep/forget per snapshot and plan               ``store.ledger``
``restore_drill``               restore drill results (RTO, RPO)                ``store.ledger``
``extract_watermark``           committed incremental watermarks                ``custody.extract.watermarks``
``extract_run``                 planned run intervals                           ``custody.extract.watermarks``
``extract_file``                committed file-drop files                       ``custody.extract.watermarks``
``audit_entry``                 the audit log: one canonical entry per action   ``custody.audit.log``
``audit_head``                  the log's size: the row appenders lock          ``custody.audit.log``
``audit_checkpoint``            signed checkpoints (signed notes) of the log    ``custody.audit.checkpoints``
``dsr_request``                 data-subject requests: state, due date          ``custody.dsr.requests``
``dsr_ledger``                  deletion ledger: erased subjects' pseudonyms    ``custody.dsr.ledger``
``deal_milestone``              recorded deal milestones                        ``custody.deal.record``
``handover_package``            handover packages and their receipts            ``custody.handover.ledger``
``incident``                    incidents, 72-hour clock, revoked scopes        ``custody.incident.response``
==============================  ==============================================  ====================

Times are ``DateTime(timezone=True)``: PostgreSQL keeps the zone, SQLite returns naive values
that Custody reads as UTC (every value it writes is UTC).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# -- data inventory (PIPL Art 51 classification management; GDPR Art 30) --------------------------

inventory_column = sa.Table(
    "inventory_column",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("column_name", sa.String(128), primary_key=True),
    sa.Column("pi_type", sa.String(64), nullable=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_run_key", sa.String(160), nullable=False),
)

inventory_run = sa.Table(
    "inventory_run",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("run_key", sa.String(160), primary_key=True),
    sa.Column("previous_run_key", sa.String(160), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("columns", sa.Integer, nullable=False),
    sa.Column("baseline", sa.Boolean, nullable=False),
    sa.Column("drift", sa.Text, nullable=False),
    sa.Index("ix_inventory_run_recorded", "source", "recorded_at"),
)

inventory_event = sa.Table(
    "inventory_event",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("run_key", sa.String(160), nullable=False),
    sa.Column("table_name", sa.String(128), nullable=False),
    sa.Column("column_name", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("pi_type", sa.String(64), nullable=True),
    sa.Column("old_level", sa.String(16), nullable=True),
    sa.Column("new_level", sa.String(16), nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_inventory_event_run", "source", "run_key"),
    sa.Index("ix_inventory_event_column", "source", "table_name", "column_name"),
)

inventory_vanished = sa.Table(
    "inventory_vanished",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("column_name", sa.String(128), primary_key=True),
    sa.Column("pi_type", sa.String(64), nullable=True),
    sa.Column("old_level", sa.String(16), nullable=False),
    sa.Column("last_run_key", sa.String(160), nullable=False),
    sa.Column("vanished_run_key", sa.String(160), nullable=False),
    sa.Column("vanished_at", sa.DateTime(timezone=True), nullable=False),
)

# -- key store (docs/format.md section 1.4) --------------------------------------------------------

crypto_key = sa.Table(
    "crypto_key",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(255), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("data_keys", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("destroyed_by", sa.String(128), nullable=True),
    sa.Column("destroy_reason", sa.Text, nullable=True),
    sa.UniqueConstraint("purpose", "scope", "generation", name="uq_crypto_key_generation"),
    sa.Index("ix_crypto_key_scope_state", "purpose", "scope", "state"),
)

crypto_key_wrap = sa.Table(
    "crypto_key_wrap",
    metadata,
    sa.Column("key_id", sa.String(64), sa.ForeignKey("crypto_key.key_id"), primary_key=True),
    sa.Column("kek_id", sa.String(255), primary_key=True),
    sa.Column("keyring", sa.String(16), nullable=False),
    sa.Column("wrapped", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# -- snapshot store records: retention and restore drills ------------------------------------------

snapshot_retention_plan = sa.Table(
    "snapshot_retention_plan",
    metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("location", sa.String(512), nullable=False),
    sa.Column("plan_key", sa.String(256), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("kept", sa.Integer, nullable=False),
    sa.Column("forgotten", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("objects_deleted", sa.Integer, nullable=True),
)

snapshot_retention_decision = sa.Table(
    "snapshot_retention_decision",
    metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("snapshot_id", sa.String(256), primary_key=True),
    sa.Column("snapshot_key", sa.String(300), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("snapshot_created_at", sa.String(40), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Index("ix_retention_decision_snapshot", "snapshot_id"),
)

restore_drill = sa.Table(
    "restore_drill",
    metadata,
    sa.Column("drill_id", sa.String(64), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("location", sa.String(512), nullable=False),
    sa.Column("snapshot_id", sa.String(256), nullable=True),
    sa.Column("tables", sa.Integer, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("rto_s", sa.Float, nullable=False),
    sa.Column("rpo_s", sa.Float, nullable=True),
    sa.Column("rto_limit_s", sa.Float, nullable=False),
    sa.Column("rpo_limit_s", sa.Float, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("failure", sa.Text, nullable=True),
    sa.Column("result", sa.Text, nullable=False),
)

# -- incremental extraction state ------------------------------------------------------------------

extract_watermark = sa.Table(
    "extract_watermark",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("column_name", sa.String(128), nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(64), nullable=True),
    sa.Column("columns_json", sa.Text, nullable=True),
    sa.Column("run_key", sa.String(160), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

extract_run = sa.Table(
    "extract_run",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("run_key", sa.String(160), primary_key=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("column_name", sa.String(128), nullable=True),
    sa.Column("low", sa.String(64), nullable=True),
    sa.Column("high", sa.String(64), nullable=True),
    sa.Column("files_json", sa.Text, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
)

extract_file = sa.Table(
    "extract_file",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("run_key", sa.String(160), nullable=False),
    sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
)

# -- audit log (docs/format.md section 8; PIPL Art 54 compliance audits, GDPR Art 5(2)) ----------

audit_entry = sa.Table(
    "audit_entry",
    metadata,
    # seq is the leaf index in the Merkle tree: 0, 1, 2, ... without gaps (custody.audit.log).
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("action", sa.String(48), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(400), nullable=False),
    sa.Column("source", sa.String(64), nullable=True),
    sa.Column("run_key", sa.String(160), nullable=True),
    # The canonical entry (the leaf input, UTF-8 JSON); the columns above are copies for filtering.
    sa.Column("entry", sa.Text, nullable=False),
    sa.Column("leaf_hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_entry_action", "action", "seq"),
    sa.Index("ix_audit_entry_run", "source", "run_key"),
    sa.Index("ix_audit_entry_time", "recorded_at"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    # One row ("main"), created by the migration: each appender updates it first, which locks it
    # until commit, so sequence numbers never fork.
    sa.Column("log_id", sa.String(16), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

audit_checkpoint = sa.Table(
    "audit_checkpoint",
    metadata,
    sa.Column("note_sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("origin", sa.String(255), nullable=False),
    sa.Column("key_id", sa.String(8), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("stores", sa.Text, nullable=False),
    sa.Index("ix_audit_checkpoint_size", "size"),
)

# -- data-subject requests (PIPL Art 44-47, 50; GDPR Art 12, 15, 17) ---------------------------------

dsr_request = sa.Table(
    "dsr_request",
    metadata,
    sa.Column("request_id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("regime", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # The subject only as keyed pseudonyms (custody.dsr.subjects): JSON {pi_type: 32-hex token}
    # under the deal key custody/dsr, and the audit log's pseudonym under custody/audit.
    sa.Column("pseudonyms", sa.Text, nullable=False),
    sa.Column("audit_subject", sa.String(32), nullable=False),
    sa.Column("source", sa.String(64), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_by", sa.String(128), nullable=False),
    sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("verified_by", sa.String(128), nullable=True),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("approved_by", sa.String(128), nullable=True),
    sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("extension_reason", sa.String(48), nullable=True),
    sa.Column("rejection_reason", sa.String(48), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_dsr_request_state", "state", "due_at"),
)

dsr_ledger = sa.Table(
    "dsr_ledger",
    metadata,
    # One row per erased identifier: its PI type and keyed pseudonym, never the identifier.
    sa.Column("pi_type", sa.String(32), primary_key=True),
    sa.Column("pseudonym", sa.String(32), primary_key=True),
    sa.Column("request_id", sa.String(32), primary_key=True),
    sa.Column("source", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# -- the deal: milestones, handover packages, incidents (custody.deal, custody.handover, custody.incident)

deal_milestone = sa.Table(
    "deal_milestone",
    metadata,
    # One row per recorded milestone; milestone_id is a function of (deal, milestone, date), so a
    # second record of the same milestone (a retried task, the form and the CLI) finds the first.
    sa.Column("milestone_id", sa.String(32), primary_key=True),
    sa.Column("deal_id", sa.String(64), nullable=False),
    sa.Column("milestone", sa.String(32), nullable=False),
    sa.Column("occurred_on", sa.Date, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_by", sa.String(255), nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    # SHA-256 of the note: the note's text stays with whoever wrote it (it may name people).
    sa.Column("note_sha256", sa.String(64), nullable=True),
    sa.Column("audit_seq", sa.BigInteger, nullable=True),
    sa.Index("ix_deal_milestone_deal", "deal_id", "milestone"),
)

handover_package = sa.Table(
    "handover_package",
    metadata,
    sa.Column("package_id", sa.String(32), primary_key=True),
    sa.Column("deal_id", sa.String(64), nullable=False),
    sa.Column("snapshot", sa.String(255), nullable=False),
    sa.Column("recipient_key_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("receipt_commitment", sa.String(64), nullable=False),
    # JSON list of {"table", "rows", "content_hash"}: what the receipt must confirm.
    sa.Column("tables", sa.Text, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acknowledged_by", sa.String(255), nullable=True),
)

incident = sa.Table(
    "incident",
    metadata,
    sa.Column("incident_id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    # GDPR Art 33(1): the supervisory authority within 72 hours of becoming aware.
    sa.Column("notify_by", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # JSON list of the scopes revoked for this incident.
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolution", sa.String(16), nullable=True),
)
