"""Traceability codes: issuance, GS1 Digital Link URLs, signatures, images and scans."""
