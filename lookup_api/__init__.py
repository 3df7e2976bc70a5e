"""The credtrace HTTP service and the ``credtrace`` command line."""
