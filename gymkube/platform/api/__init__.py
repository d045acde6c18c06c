"""The researcher REST API under /api/v1."""
