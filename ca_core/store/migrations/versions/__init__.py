"""Alembic revisions; alembic skips this file when it scans for revisions."""
