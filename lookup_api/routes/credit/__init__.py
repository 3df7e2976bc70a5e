"""Routes of the credit family: an enterprise's grade explained, inspection decisions."""
