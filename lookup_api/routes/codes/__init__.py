"""Routes of the codes family: code status and proofs, code keys, issuing batches."""
