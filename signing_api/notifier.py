"""Delivery of one-time codes to signers. Pluggable: anything with ``send(to, subject, body)``.

The default writes the message to the ``outbox_messages`` table, from which a mail or SMS
gateway delivers (and deletes) it. Nothing here logs the message body.
"""

from __future__ import annotations

from typing import Protocol

from ca_core.models import OutboxMessage
from ca_core.store import Store


class Notifier(Protocol):
    def send(self, recipient: str, subject: str, body: str) -> None: ...


class OutboxNotifier:
    def __init__(self, store: Store) -> None:
        self._store = store

    def send(self, recipient: str, subject: str, body: str) -> None:
        with self._store.session() as s:
            s.add(OutboxMessage(recipient=recipient, subject=subject, body=body))


def notifier_for(store: Store, name: str) -> Notifier:
    """The notifier named by ``signing.notifier`` (config validation keeps it known)."""
    if name == "outbox":
        return OutboxNotifier(store)
    raise ValueError(f"unknown notifier {name!r}")
