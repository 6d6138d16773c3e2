"""Orphaned subscriber keys: on the token, in no database row.

``psre issue`` (and the API's issuance) generates the subscriber's key in the HSM first and
writes the serial reservation and then the certificate that name it afterwards. A process
killed in between (``kill -9``, a power cut) leaves a private key nobody will ever use: the
issue's adversarial run left 18 of them after 27 kills. The sweep finds keys with the subscriber
label prefix that no certificate, reservation, CA or OCSP row names, and removes those older
than a grace period — longer than any issuance in flight, so a key whose row is about to be
written is never touched. The key's age comes from its CKA_ID (hsm.backend.new_key_id): the
token has it even when the database write never happened.

Only keys with psre's subscriber prefix are candidates: CA, responder and TSA keys, and keys an
operator made with ``psre hsm keygen``, are never swept. Keys without a psre creation time
(made before the CKA_ID convention) are reported, and removed only when asked explicitly.
Every removal is an audit event, written before the key is destroyed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ca_core import audit_objects
from ca_core.clock import Clock, utcnow
from ca_core.store import ReadOnlyStore, Store, key_labels
from hsm.backend import KeyBackend, KeyInfo
from hsm.errors import KeyNotFoundError

log = logging.getLogger(__name__)

#: Label prefix of subscriber keys (ca_core.subscribers.issue_for).
SUBSCRIBER_KEY_PREFIX = "sub-"


@dataclass(frozen=True)
class Orphan:
    label: str
    #: From the key's CKA_ID; None when psre did not stamp it.
    created_at: dt.datetime | None

    def describe(self, now: dt.datetime) -> dict[str, object]:
        age = None if self.created_at is None else round((now - self.created_at).total_seconds())
        made = None if self.created_at is None else self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"label": self.label, "created_at": made, "age_seconds": age}


@dataclass
class SweepReport:
    #: Orphans old enough to go (removed unless it was a dry run).
    removed: list[Orphan] = field(default_factory=list)
    #: Orphans still within the grace period: perhaps an issuance in flight.
    young: list[Orphan] = field(default_factory=list)
    #: Orphans of unknown age, left alone unless include_undated.
    undated: list[Orphan] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self, now: dt.datetime) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "removed": [o.describe(now) for o in self.removed],
            "young": [o.describe(now) for o in self.young],
            "undated": [o.describe(now) for o in self.undated],
        }


def known_labels(store: ReadOnlyStore) -> set[str]:
    """Every key label a database row names."""
    return key_labels.known_labels(store)


def find_orphans(store: ReadOnlyStore, backend: KeyBackend) -> list[Orphan]:
    """Subscriber keys on the token that no database row names."""
    keys: list[KeyInfo] = backend.list_keys()
    named = known_labels(store)
    return [
        Orphan(k.label, k.created_at)
        for k in keys
        if k.label.startswith(SUBSCRIBER_KEY_PREFIX) and k.label not in named
    ]


def sweep_orphans(
    store: Store,
    backend: KeyBackend,
    *,
    grace: dt.timedelta,
    actor: str,
    dry_run: bool = False,
    include_undated: bool = False,
    before_each: Callable[[], None] = lambda: None,
    clock: Clock = utcnow,
) -> SweepReport:
    """Remove orphans older than ``grace`` (audited); report the rest. ``before_each`` runs
    before each removal (the refresher's lease check). Ages are judged at ``clock``: a key's
    creation time is stamped in its CKA_ID by the token's host (hsm.backend.new_key_id)."""
    now = clock()
    report = SweepReport(dry_run=dry_run)
    for orphan in find_orphans(store, backend):
        if orphan.created_at is None and not include_undated:
            report.undated.append(orphan)
        elif orphan.created_at is not None and now - orphan.created_at < grace:
            report.young.append(orphan)
        else:
            report.removed.append(orphan)
    if dry_run:
        return report
    gone: list[Orphan] = []
    for orphan in report.removed:
        # Look again right before: a row written since the listing makes the key a used one.
        if orphan.label in known_labels(store):
            continue
        before_each()
        store.audit.append(
            actor,
            "hsm.orphan_removed",
            audit_objects.key(orphan.label),
            {"token": backend.token_label, **orphan.describe(now)},
        )
        try:
            backend.delete(orphan.label)
        except KeyNotFoundError:
            pass  # another sweeper was first; the audit trail has both attempts
        gone.append(orphan)
        log.warning("removed orphaned key '%s' from token '%s'", orphan.label, backend.token_label)
    report.removed = gone
    return report
