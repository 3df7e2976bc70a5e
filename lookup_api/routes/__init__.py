"""One folder per route family: its controller, the service it calls, its schemas."""
