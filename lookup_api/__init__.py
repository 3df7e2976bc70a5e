"""The credtrace service: wiring (``wiring`` opens the ledger without Litestar), the
Litestar app, auth, problems, route families under ``routes/``, bulk jobs under ``bulk/``
and the ``credtrace`` command line.

May import: everything (``credit``, ``qr``, ``ledger``); nothing imports it.
"""
