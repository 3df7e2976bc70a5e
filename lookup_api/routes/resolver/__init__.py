"""The GS1-conformant resolver: Digital Link paths, linksets, the consumer page."""
