"""credtrace's verifiable log, in layers that the folders show.

``tlog`` (the protocol) ← ``audit`` (outside verifiers) and ``store`` (SQL storage and
sequencing) ← ``records`` (the domain). ``python -m ledger verify --url URL`` needs
``tlog`` and ``audit`` only, so an auditor installs this package with ``cryptography``
alone. ``errors`` (the error hierarchy and exit codes) imports nothing from the project,
so every layer may use it.
"""
