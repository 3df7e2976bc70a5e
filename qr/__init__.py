"""Traceability codes: issuance, GS1 Digital Link URLs, signatures, images and scans.

May import: ``ledger.records`` and below; never ``credit`` or ``lookup_api``.
"""
