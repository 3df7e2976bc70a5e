"""Bulk jobs: the two-process pipeline, ``credtrace import``, ``credtrace seed`` and the demo."""
