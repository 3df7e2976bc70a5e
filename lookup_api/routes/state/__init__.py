"""Routes of the state family."""
