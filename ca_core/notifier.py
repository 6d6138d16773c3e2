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
from typing import Protocol

from ca_core.clock import Clock, utcnow
from ca_core.store import Store
from ca_core.store.outbox import Message, Outbox

log = logging.getLogger(__name__)

#: A message without a code of its own (a lockout notice) waits this long for the gateway.
NOTICE_LIFETIME = dt.timedelta(days=1)


class Notifier(Protocol):
    def send(
        self, recipient: str, subject: str, body: str, expires_at: dt.datetime | None = None
    ) -> None: ...


class OutboxNotifier:
    def __init__(self, store: Store, *, clock: Clock = utcnow) -> None:
        self._store = store
        self._clock = clock

    def send(
        self, recipient: str, subject: str, body: str, expires_at: dt.datetime | None = None
    ) -> None:
        expires = expires_at or self._clock() + NOTICE_LIFETIME
        Outbox(self._store).put(recipient, subject, body, expires)


def take(store: Store, limit: int = 100, now: dt.datetime | None = None) -> list[Message]:
    """Up to ``limit`` live messages for the gateway to deliver, oldest first; they leave the
    outbox in the same transaction (delivery is the gateway's from here on: at most once, and a
    lost code is simply asked for again)."""
    return Outbox(store).take(limit, now or utcnow())


def sweep(store: Store, now: dt.datetime | None = None) -> int:
    """Delete every message whose code has expired; returns how many."""
    return Outbox(store).sweep(now or utcnow())


def notifier_for(store: Store, name: str, *, clock: Clock = utcnow) -> Notifier:
    """The notifier named by ``signing.notifier`` (config validation keeps it known)."""
    if name == "outbox":
        return OutboxNotifier(store, clock=clock)
    raise ValueError(f"unknown notifier {name!r}")
