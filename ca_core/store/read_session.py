"""An ORM session over a read-only face's snapshot, for the repositories in this package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from ca_core.store import ReadOnlyStore


@contextmanager
def read_session(store: ReadOnlyStore) -> Iterator[Session]:
    """A session on ``store``'s read-only connection (no write lock on SQLite, a READ ONLY
    transaction on PostgreSQL). Objects stay readable after the block."""
    with store.reading() as conn, Session(bind=conn, expire_on_commit=False) as s:
        yield s
