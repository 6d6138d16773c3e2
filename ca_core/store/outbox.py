"""The outbox of the default notifier (ca_core.notifier): messages to signers waiting for a
mail or SMS gateway. A message is taken and deleted in one transaction; expired ones are swept.

On SQLite a deleted row is zeroed in its page (``secure_delete``, ca_core.store.db), but earlier
copies of the page stay in the write-ahead log until a checkpoint: after deleting, the log is
folded into the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from ca_core.store import Store
from ca_core.store.db import rows_changed
from ca_core.store.models import OutboxMessage


@dataclass(frozen=True)
class Message:
    """One message as handed to the gateway (it no longer exists in the outbox)."""

    id: int
    recipient: str
    subject: str
    body: str
    expires_at: datetime


class Outbox:
    def __init__(self, store: Store) -> None:
        self._store = store

    def put(self, recipient: str, subject: str, body: str, expires_at: datetime) -> None:
        """Queue a message until ``expires_at``."""
        with self._store.session() as s:
            s.add(
                OutboxMessage(
                    recipient=recipient, subject=subject, body=body, expires_at=expires_at
                )
            )

    def take(self, limit: int, now: datetime) -> list[Message]:
        """Up to ``limit`` messages live at ``now``, oldest first, deleted in the same
        transaction."""
        with self._store.session() as s:
            rows = s.execute(
                select(OutboxMessage)
                .where(OutboxMessage.expires_at > now)
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update()
            ).scalars()
            out = [Message(r.id, r.recipient, r.subject, r.body, r.expires_at) for r in rows]
            if out:
                s.execute(delete(OutboxMessage).where(OutboxMessage.id.in_([m.id for m in out])))
        if out:
            self._fold_wal()
        return out

    def sweep(self, now: datetime) -> int:
        """Delete every message expired at ``now``; returns how many."""
        with self._store.session() as s:
            n = rows_changed(s, delete(OutboxMessage).where(OutboxMessage.expires_at <= now))
        if n:
            self._fold_wal()
        return n

    def _fold_wal(self) -> None:
        """SQLite: fold the write-ahead log into the file and empty it, best effort (with a
        reader active it is done by a later sweep)."""
        engine = self._store.engine
        if engine.dialect.name != "sqlite":
            return
        with engine.connect() as conn:
            # The driver connection is in autocommit (psre emits BEGIN itself): no transaction.
            conn.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
