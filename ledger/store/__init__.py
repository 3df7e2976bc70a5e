"""SQL storage and sequencing: engine, schema and migrations, the ``Ledger`` facade
(``log``) over head, sequencer, leaf index, reader and tile cache; entry types, identity
pinning, the statements on the ledger tables, the append service, database verification,
export and import.

May import: ``ledger.tlog``, ``ledger.audit``, ``ledger.errors``, SQLAlchemy, SQLModel,
Alembic and psycopg.
"""
