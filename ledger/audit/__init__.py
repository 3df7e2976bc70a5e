"""Verifiers an outside auditor runs with nothing else: the shared entry checker and the
remote verifier behind ``python -m ledger verify``.

May import: ``ledger.tlog``, ``ledger.errors``, the standard library and ``cryptography``.
"""
