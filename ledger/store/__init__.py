"""SQL storage and sequencing: engine, schema and migrations, head, sequencer, leaf index,
reader, the append service, database verification, export and import.

May import: ``ledger.tlog``, ``ledger.audit``, SQLAlchemy, SQLModel and Alembic.
"""
