"""Keeping pre-signed OCSP responses fresh: the refresher's OCSP chore (ca_core/refresher.py).

One process per installation re-signs responses that are due (``refresh_fraction`` of their
validity used), missing or out of date, and removes static files of expired responses: the
refresher, which works only while it holds the database lease, so two hosts never both re-sign.
Status changes do not wait for it: the process that makes the change re-signs at once
(ocsp/publisher.py). Should that fail (the process killed after its commit, its HSM away, the
database gone between the two), :class:`OcspFollow` finds the change in the ``status_changes``
feed within seconds and re-signs what does not agree with the certificate.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from ca_core.clock import Clock, utcnow

if TYPE_CHECKING:
    from ca_core.store import Store
    from ocsp.responses import Presigner, PresignReport

log = logging.getLogger(__name__)

#: How often a round compares every certificate with its responses (one set-based pass over
#: both tables, a hash anti-join in PostgreSQL: ~7-10 s at 10^6 rows on the bench machine); the
#: rounds between only re-sign what is due by age, found by the nextUpdate index (issue 18).
#: Status changes never wait for either: ocsp/publisher.py.
_FULL_CHECK_SECONDS = 3600.0


class OcspRefresh:
    """One refresh round per call, every ``ocsp.presign_interval_seconds`` (the refresher's
    schedule); the first round and one an hour after it do the full comparison.

    ``presigner`` returns the process's presigner (psre.services); it is asked for at the
    first round, so that setting up the refresher opens no key backend."""

    def __init__(self, presigner: Callable[[], Presigner]) -> None:
        self._presigner = presigner
        self._next_full = 0.0

    def __call__(self, before_write: Callable[[], None]) -> PresignReport:
        from ocsp.responses import presign_all

        full = time.monotonic() >= self._next_full
        report = presign_all(self._presigner(), full=full, before_write=before_write)
        if full:
            self._next_full = time.monotonic() + _FULL_CHECK_SECONDS
        if report.signed or report.errors:
            log.info(
                "OCSP refresh: %d signed %s %s", report.signed, report.per_ca, report.errors or ""
            )
        return report


#: A refresher that takes over follows the feed from this far back: the changes its predecessor
#: may not have seen (re-signing those that already agree costs nothing but a read).
FOLLOW_LOOKBACK = dt.timedelta(hours=1)


class OcspFollow:
    """One pass over the status changes since the last call (the refresher calls it every
    ``ocsp.follow_seconds``): the responses of each changed certificate that do not say its
    status now are re-signed. The cursor is the feed's id, which follows commit order (each
    change is written after its audit event, under the audit head's lock)."""

    def __init__(
        self,
        store: Store,
        presigner: Callable[[], Presigner],
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self._presigner = presigner
        self.clock = clock
        self.cursor: int | None = None

    def __call__(self, before_write: Callable[[], None] | None = None) -> int:
        from ca_core.store.status_changes import StatusChangeReads

        feed = StatusChangeReads(self.store.reader)
        if self.cursor is None:
            self.cursor = feed.cursor_before(self.clock() - FOLLOW_LOOKBACK)
        signed = 0
        while True:
            changes = feed.since(self.cursor, limit=500)
            if not changes:
                return signed
            by_ca: dict[int, set[str]] = defaultdict(set)
            for ch in changes:
                by_ca[ch.issuer_id].add(ch.serial_hex)
            cas = {ca.id: ca for ca in self.store.list_cas()}
            p = self._presigner().for_run(before_write)
            for issuer_id, serials in by_ca.items():
                ca = cas.get(issuer_id)
                if ca is None or ca.certificate_der is None:
                    continue
                n = p.presign_changed(ca, serials)
                if n:
                    log.warning(
                        "OCSP follow: %d response(s) of %s re-signed from the status feed "
                        "(their own re-signing had not happened)",
                        n,
                        ca.name,
                    )
                signed += n
            self.cursor = changes[-1].id
