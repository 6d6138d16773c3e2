"""How the repositories of this package open transactions on a store face.

A read goes through :func:`read_session` (or ``ReadOnlyStore.reading`` for Core statements on a
hot path): the read-only face's snapshot, which takes no write lock on SQLite and is refused
writes by PostgreSQL. A write goes through ``Store.session`` (one transaction, committed at the
end of the block). Either way a database error leaves as ``ca_core.errors.StoreError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from ca_core.store import ReadOnlyStore, _store_errors


@contextmanager
def read_session(store: ReadOnlyStore) -> Iterator[Session]:
    """An ORM session on ``store``'s read-only face; rows loaded stay readable after it."""
    with _store_errors(None), store._reads() as s:
        yield s
