"""RA actions on subscribers that the console needs beyond ca_core.subscribers (activation
resets are signing_api.enrolment's: the RA never sees a passphrase)."""

from __future__ import annotations

from ca_core.store import Store
from ca_core.store.models import Subscriber


def get_subscriber(store: Store, subscriber_id: int) -> Subscriber | None:
    with store.session() as s:
        return s.get(Subscriber, subscriber_id)
