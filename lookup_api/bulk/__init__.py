"""Bulk jobs: the two-process pipeline, ``credtrace import``, ``credtrace seed`` and the demo."""

# Records per transaction of a bulk job, by default: also how many entries the parse
# worker may prepare ahead of the sequencer. Here, not in the pipeline, so the command
# line can show it without importing the pipeline.
BULK_BATCH = 50_000
