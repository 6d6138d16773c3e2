"""Figures for the console's dashboard and the public status page, on the read-only face."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from ca_core.store import ReadOnlyStore
from ca_core.store.models import AuditEvent, Certificate, OcspResponse, Subscriber
from ca_core.store.sessions import read_session


@dataclass(frozen=True)
class StatusCounts:
    certificates: dict[str, int]
    subscribers: dict[str, int]


@dataclass(frozen=True)
class OcspCoverage:
    """One CA's pre-signed OCSP responses: how many, the oldest thisUpdate, the soonest
    nextUpdate."""

    issuer_id: int
    responses: int
    oldest_this_update: dt.datetime
    soonest_next_update: dt.datetime


class Statistics:
    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def counts(self) -> StatusCounts:
        """Certificates and subscribers by status (one snapshot)."""
        with read_session(self.store) as s:
            certs = s.execute(
                select(Certificate.status, func.count()).group_by(Certificate.status)
            ).all()
            subs = s.execute(
                select(Subscriber.status, func.count()).group_by(Subscriber.status)
            ).all()
        return StatusCounts({k: int(v) for k, v in certs}, {k: int(v) for k, v in subs})

    def issued_since(self, start: dt.datetime) -> list[dt.datetime]:
        """When each certificate created at or after ``start`` was stored."""
        with read_session(self.store) as s:
            return list(
                s.scalars(select(Certificate.created_at).where(Certificate.created_at >= start))
            )

    def signatures_since(self, start: dt.datetime) -> list[dt.datetime]:
        """Times of the audit events at or after ``start`` that record a signature (action
        starting with ``sign`` or ending in ``.sign``)."""
        with read_session(self.store) as s:
            return list(
                s.scalars(
                    select(AuditEvent.time).where(
                        AuditEvent.time >= start,
                        or_(AuditEvent.action.like("sign%"), AuditEvent.action.like("%.sign")),
                    )
                )
            )

    def ocsp_coverage(self) -> list[OcspCoverage]:
        """Per CA with pre-signed responses (min() keeps UTCDateTime, so times are aware)."""
        stmt = select(
            OcspResponse.issuer_id,
            func.count(),
            func.min(OcspResponse.this_update),
            func.min(OcspResponse.next_update),
        ).group_by(OcspResponse.issuer_id)
        with read_session(self.store) as s:
            return [OcspCoverage(i, int(n), t, nu) for i, n, t, nu in s.execute(stmt)]
