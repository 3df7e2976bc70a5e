"""The ``credtrace`` commands, one module per family, each with ``register(sub)``.

A module imports only the standard library and ``output`` at the top; what a command
needs (the database, the web stack, the bulk pipeline) it imports when it runs, so that
``credtrace --help`` and a quick question start in a fraction of a second.
"""
