"""Route controllers, one concern per module."""
