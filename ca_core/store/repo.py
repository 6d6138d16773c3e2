"""What the repositories of ``ca_core.store`` share: an ORM session on the read-only face.

A repository that only reads takes a ``ReadOnlyStore`` and reads through :func:`read_session`,
so its queries run wherever that face's transactions run (a read-only snapshot: on SQLite no
write lock, so look-ups on the signing path never queue behind another worker's bookkeeping).
Writes use ``Store.session()`` and stay one transaction per method.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from ca_core.store import ReadOnlyStore


@contextmanager
def read_session(store: ReadOnlyStore) -> Iterator[Session]:
    """An ORM session inside one read-only transaction of ``store``.

    Nothing is committed through it, so rows read stay loaded (plain values) after the block.
    """
    with store.reading() as conn, Session(bind=conn) as s:
        yield s
