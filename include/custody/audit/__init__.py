"""The chain of custody's audit log: tamper-evident records of every custody action.

- ``merkle``: RFC 9162 tree hashes, compact ranges, inclusion and consistency proofs.
- ``entries``: the entry model, its action vocabulary and canonical encoding (the leaf input).
- ``log``: ``AuditLog``, the append-only table in the catalog (one append function, serialised).
- ``signing``: C2SP signed notes, Ed25519 (key store or key file) and KMS ECDSA signers.
- ``checkpoints``: signed checkpoints, kept in the catalog and in every snapshot store.
- ``verify``: what ``custody audit verify`` checks, as a third party would.
- ``proofs``: inclusion-proof bundles checkable with ``docs/format.md`` alone.
- ``snapshots``: the record of snapshots that must exist, from ``backup`` and ``forget`` entries.

Entries hold names, ids, counts, hashes and key ids, never a personal value (``docs/audit.md``).
"""
