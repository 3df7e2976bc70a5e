"""The transparency-log protocol: RFC 8785 JCS, envelopes, the RFC 9162 Merkle tree and
proofs, C2SP tiles, signed notes and checkpoints.

May import: the standard library, ``cryptography`` and ``ledger.errors`` only.
"""
