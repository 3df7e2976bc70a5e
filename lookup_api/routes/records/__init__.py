"""Routes of the records family."""
