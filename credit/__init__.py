"""Credit grading: policies as data, the violation catalogue, disclosure rules, the
grading engine, supervision measures, sanctions, repair and random draws.

May import: ``ledger.records`` and below; never ``qr`` or ``lookup_api``.
"""
