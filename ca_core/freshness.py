"""How fresh the published revocation information is, for ``/healthz``.

Pre-signed OCSP responses and CRLs are signed ahead and served without the HSM; if the process
that re-signs them dies or hangs, nothing fails at once — they just age towards their
nextUpdate and then vanish. ``/healthz`` turns 503 well before that: when the oldest of them has
used more than a configured share of its validity, an operator has the rest of it to react.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from ca_core.clock import Clock, utcnow
from ca_core.store import ReadOnlyStore
from ca_core.store.publication import PublicationReads


@dataclass(frozen=True)
class Freshness:
    """The oldest item of one kind: how much of its validity it used, against the limit."""

    ok: bool
    #: (now - thisUpdate) / (nextUpdate - thisUpdate) of the oldest item; None when none exist.
    oldest_fraction: float | None
    limit: float
    oldest_this_update: str | None = None
    what: str | None = None

    def report(self) -> dict[str, Any]:
        return asdict(self)


def _fraction(this: dt.datetime, next_: dt.datetime, now: dt.datetime) -> float:
    span = (next_ - this).total_seconds()
    return 1.0 if span <= 0 else round((now - this).total_seconds() / span, 6)


def _verdict(
    rows: list[tuple[dt.datetime, dt.datetime, str]], limit: float, now: dt.datetime
) -> Freshness:
    if not rows:
        return Freshness(True, None, limit)
    this, next_, what = max(rows, key=lambda r: _fraction(r[0], r[1], now))
    frac = _fraction(this, next_, now)
    return Freshness(frac <= limit, frac, limit, this.strftime("%Y-%m-%dT%H:%M:%SZ"), what)


def ocsp_freshness(store: ReadOnlyStore, limit: float, *, clock: Clock = utcnow) -> Freshness:
    """The pre-signed response closest to its nextUpdate among certificates still valid.

    Every response has the same validity, so the oldest is the one with the earliest
    nextUpdate (indexed). Responses of expired certificates are not refreshed, by design, and
    are left out.
    """
    now = clock()
    rows = PublicationReads(store).soonest_ocsp_expiry(now)
    return _verdict([(r.this_update, r.next_update, r.what) for r in rows], limit, now)


def crl_freshness(store: ReadOnlyStore, limit: float, *, clock: Clock = utcnow) -> Freshness:
    """The newest CRL of every (active CA, kind, partition); the one that used most of its life."""
    rows = PublicationReads(store).newest_crls()
    return _verdict([(r.this_update, r.next_update, r.what) for r in rows], limit, clock())
