"""Routes of the ledger family."""
