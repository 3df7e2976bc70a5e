"""Routes of the system family."""
