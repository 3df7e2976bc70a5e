"""Routes for platforms: bulk verification and the feed of public changes."""
