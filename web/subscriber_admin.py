"""RA actions on subscribers that the console needs beyond ca_core.subscribers (activation
resets are signing_api.enrolment's: the RA never sees a passphrase)."""

from __future__ import annotations

from ca_core.store import ReadOnlyStore
from ca_core.store.certificate_search import CertificateSearch
from ca_core.store.models import Subscriber


def get_subscriber(store: ReadOnlyStore, subscriber_id: int) -> Subscriber | None:
    return CertificateSearch(store).subscriber(subscriber_id)
