"""What was published: the newest CRLs and the pre-signed OCSP responses, as their dates.

Read by the health check (ca_core.freshness) and the metrics listener (ca_core.metrics); the
CRL and OCSP services write these rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from ca_core.store import ReadOnlyStore
from ca_core.store.models import Certificate, CertificateAuthority, OcspResponse, PublishedCrl
from ca_core.store.sessions import read_session


@dataclass(frozen=True)
class Dated:
    """One published item's validity, and what it is (``ocsp:<serial>``, ``crl:<ca>:<kind>``)."""

    this_update: dt.datetime
    next_update: dt.datetime
    what: str


class PublicationReads:
    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def soonest_ocsp_expiry(self, now: dt.datetime) -> list[Dated]:
        """The pre-signed response with the earliest nextUpdate (indexed) among certificates
        still valid at ``now``: none or one."""
        stmt = (
            select(OcspResponse.this_update, OcspResponse.next_update, OcspResponse.serial_hex)
            .join(
                Certificate,
                and_(
                    Certificate.issuer_id == OcspResponse.issuer_id,
                    Certificate.serial_hex == OcspResponse.serial_hex,
                ),
            )
            .where(Certificate.not_after > now)
            .order_by(OcspResponse.next_update)
            .limit(1)
        )
        with read_session(self.store) as s:
            return [Dated(r[0], r[1], f"ocsp:{r[2]}") for r in s.execute(stmt).all()]

    def newest_crls(self) -> list[Dated]:
        """The newest CRL of every (active CA, kind, partition)."""
        newest = (
            select(
                PublishedCrl.issuer_id,
                PublishedCrl.kind,
                PublishedCrl.partition,
                func.max(PublishedCrl.number).label("number"),
            )
            .group_by(PublishedCrl.issuer_id, PublishedCrl.kind, PublishedCrl.partition)
            .subquery()
        )
        stmt = (
            select(PublishedCrl.this_update, PublishedCrl.next_update, CertificateAuthority.name,
                   PublishedCrl.kind, PublishedCrl.partition)
            .join(newest, and_(PublishedCrl.issuer_id == newest.c.issuer_id,
                               PublishedCrl.number == newest.c.number))
            .join(CertificateAuthority, CertificateAuthority.id == PublishedCrl.issuer_id)
            .where(CertificateAuthority.status == "active")
        )  # fmt: skip
        with read_session(self.store) as s:
            return [
                Dated(r[0], r[1], f"crl:{r[2]}:{r[3]}" + (f":{r[4]}" if r[4] >= 0 else ""))
                for r in s.execute(stmt).all()
            ]

    def newest_crl_time_per_ca(self) -> dict[str, dt.datetime]:
        """CA name -> thisUpdate of its newest CRL (of any kind), for CAs that published one."""
        stmt = (
            select(CertificateAuthority.name, func.max(PublishedCrl.this_update))
            .join(PublishedCrl, PublishedCrl.issuer_id == CertificateAuthority.id)
            .group_by(CertificateAuthority.name)
        )
        with read_session(self.store) as s:
            return {name: newest for name, newest in s.execute(stmt)}

    def oldest_live_ocsp_this_update(self, now: dt.datetime) -> dt.datetime | None:
        """thisUpdate of the oldest pre-signed response still within its validity."""
        stmt = select(func.min(OcspResponse.this_update)).where(OcspResponse.next_update > now)
        with read_session(self.store) as s:
            first: dt.datetime | None = s.execute(stmt).scalar()
        return first

    def count_ocsp_expiring(self, now: dt.datetime, until: dt.datetime) -> int:
        """Pre-signed responses still valid whose nextUpdate is at or before ``until``."""
        stmt = select(func.count()).where(
            OcspResponse.next_update > now, OcspResponse.next_update <= until
        )
        with read_session(self.store) as s:
            return int(s.execute(stmt).scalar() or 0)
