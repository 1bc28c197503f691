"""The chain of custody's audit log: tamper-evident records of every custody action.

- ``merkle``: RFC 9162 tree hashes, inclusion and consistency proofs.
"""
