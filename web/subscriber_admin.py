"""RA actions on subscribers that the console needs beyond ca_core.subscribers."""

from __future__ import annotations

import secrets

from ca_core import audit_objects
from ca_core.errors import NotFoundError
from ca_core.models import Subscriber
from ca_core.passwords import hash_secret
from ca_core.store import Store


def new_passphrase() -> str:
    """A passphrase for the RA officer to hand over: 20 characters, ~120 bits."""
    return secrets.token_urlsafe(15)


def reset_passphrase(store: Store, subscriber_id: int, *, actor: str) -> str:
    """Replace the subscriber's signing passphrase, clear the lock-out, return the new one.

    The passphrase is returned once for the officer to hand over; only its hash is stored and
    the audit event records that a reset happened, not the value.
    """
    passphrase = new_passphrase()
    with store.session() as s:
        sub = s.get(Subscriber, subscriber_id)
        if sub is None:
            raise NotFoundError(f"no subscriber {subscriber_id}")
        sub.passphrase_hash = hash_secret(passphrase)
        sub.failed_attempts = 0
        sub.locked_until = None
        store.audit.append(
            actor,
            "subscriber.reset_activation",
            audit_objects.subscriber_record(sub.nik, sub.organization_identifier),
            {},
            session=s,
        )
    return passphrase


def get_subscriber(store: Store, subscriber_id: int) -> Subscriber | None:
    with store.session() as s:
        return s.get(Subscriber, subscriber_id)
