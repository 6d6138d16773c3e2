"""Keeping pre-signed OCSP responses fresh: the refresher's OCSP chore (ca_core/refresher.py).

One process per installation re-signs responses that are due (``refresh_fraction`` of their
validity used), missing or out of date, and removes static files of expired responses: the
refresher, which works only while it holds the database lease, so two hosts never both re-sign.
Status changes do not wait for it: the process that makes the change re-signs at once
(ocsp/publisher.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ca_core.runtime import Runtime
    from ocsp.responses import PresignReport

log = logging.getLogger(__name__)

#: How often a round compares every certificate with its responses (one set-based pass over
#: both tables, a hash anti-join in PostgreSQL: ~7-10 s at 10^6 rows on the bench machine); the
#: rounds between only re-sign what is due by age, found by the nextUpdate index (issue 18).
#: Status changes never wait for either: ocsp/publisher.py.
_FULL_CHECK_SECONDS = 3600.0


class OcspRefresh:
    """One refresh round per call, every ``ocsp.presign_interval_seconds`` (the refresher's
    schedule); the first round and one an hour after it do the full comparison."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._next_full = 0.0

    def __call__(self, before_write: Callable[[], None]) -> PresignReport:
        from ocsp.responses import presign_all

        full = time.monotonic() >= self._next_full
        report = presign_all(self.rt, full=full, before_write=before_write)
        if full:
            self._next_full = time.monotonic() + _FULL_CHECK_SECONDS
        if report.signed or report.errors:
            log.info(
                "OCSP refresh: %d signed %s %s", report.signed, report.per_ca, report.errors or ""
            )
        return report
