"""The officers' pages: sign in, search, grades, blacklist, proposals, filing a record."""
