"""credtrace's verifiable log.

Canonical entries, hash chain, RFC 9162 tree, C2SP checkpoints and tiles.

This package stands alone so that an outside auditor can install it and run
``python -m ledger verify --url URL`` without the rest of the application.
"""
