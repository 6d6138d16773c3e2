"""Delivery of one-time codes and notices to signers. Pluggable: anything with
``send(to, subject, body, expires_at=None)``.

The default writes the message to the ``outbox_messages`` table, from which a mail or SMS
gateway takes it (``psre outbox take``: handed out and deleted in one transaction). A message
never outlives the code in it: ``expires_at`` is the code's own expiry, and :func:`sweep` (run by
the refresher, ``psre refresher``, and by ``psre outbox sweep``) deletes whatever is past it. On
SQLite the database runs with ``secure_delete`` (ca_core.store.db), so a deleted code is overwritten
in the file, not merely unlinked. Nothing here logs a message body.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, select

from ca_core.store import Store
from ca_core.store.db import rows_changed, utcnow
from ca_core.store.models import OutboxMessage

log = logging.getLogger(__name__)

#: A message without a code of its own (a lockout notice) waits this long for the gateway.
NOTICE_LIFETIME = dt.timedelta(days=1)


class Notifier(Protocol):
    def send(
        self, recipient: str, subject: str, body: str, expires_at: dt.datetime | None = None
    ) -> None: ...


@dataclass(frozen=True)
class Message:
    id: int
    recipient: str
    subject: str
    body: str
    expires_at: dt.datetime


class OutboxNotifier:
    def __init__(self, store: Store) -> None:
        self._store = store

    def send(
        self, recipient: str, subject: str, body: str, expires_at: dt.datetime | None = None
    ) -> None:
        expires = expires_at or utcnow() + NOTICE_LIFETIME
        with self._store.session() as s:
            s.add(
                OutboxMessage(recipient=recipient, subject=subject, body=body, expires_at=expires)
            )


def take(store: Store, limit: int = 100, now: dt.datetime | None = None) -> list[Message]:
    """Up to ``limit`` live messages for the gateway to deliver, oldest first; they leave the
    outbox in the same transaction (delivery is the gateway's from here on: at most once, and a
    lost code is simply asked for again)."""
    now = now or utcnow()
    with store.session() as s:
        rows = (
            s.execute(
                select(OutboxMessage)
                .where(OutboxMessage.expires_at > now)
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update()
            )
            .scalars()
            .all()
        )
        out = [Message(r.id, r.recipient, r.subject, r.body, r.expires_at) for r in rows]
        if out:
            s.execute(delete(OutboxMessage).where(OutboxMessage.id.in_([m.id for m in out])))
    if out:
        _fold_wal(store)
    return out


def sweep(store: Store, now: dt.datetime | None = None) -> int:
    """Delete every message whose code has expired; returns how many."""
    now = now or utcnow()
    with store.session() as s:
        n = rows_changed(s, delete(OutboxMessage).where(OutboxMessage.expires_at <= now))
    if n:
        _fold_wal(store)
    return n


def _fold_wal(store: Store) -> None:
    """SQLite: secure_delete zeroes the deleted rows in the page, but the write-ahead log still
    holds earlier copies of that page until a checkpoint. Fold the log into the file and empty
    it, best effort (with a reader active it is done by a later sweep)."""
    if store.engine.dialect.name != "sqlite":
        return
    with store.engine.connect() as conn:
        # The driver connection is in autocommit (psre emits BEGIN itself): no transaction.
        conn.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]


def notifier_for(store: Store, name: str) -> Notifier:
    """The notifier named by ``signing.notifier`` (config validation keeps it known)."""
    if name == "outbox":
        return OutboxNotifier(store)
    raise ValueError(f"unknown notifier {name!r}")
