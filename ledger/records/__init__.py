"""The domain of the log: identifiers, record kinds and their schemas, projection tables,
one handler per kind, the projector and replay.

May import: ``ledger.store``, ``ledger.tlog``, msgspec and SQLAlchemy. Rules that need
another package (a violation's item must be in a policy's catalogue) are passed in.
"""
