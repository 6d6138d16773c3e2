"""What the operator console reads about certificates: search, one certificate with its names,
a subscriber's certificates, the certificates of given profiles. All on the read-only face."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select

from ca_core.store import ReadOnlyStore
from ca_core.store.models import Certificate, CertificateAuthority, Subscriber
from ca_core.store.sessions import read_session

_HEX = re.compile(r"(?:0x)?[0-9a-fA-F:]{1,60}")
_NIK = re.compile(r"[0-9]{16}")


@dataclass(frozen=True)
class CertRow:
    """One line of the console's certificate list."""

    id: int
    serial_hex: str
    issuer: str
    subject_dn: str
    profile: str
    status: str
    not_after: dt.datetime
    subscriber_name: str | None


@dataclass(frozen=True)
class CertificatePage:
    """One certificate with its issuer's name and its subscriber (if any)."""

    certificate: Certificate
    issuer: str
    subscriber: Subscriber | None


class CertificateSearch:
    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def search(self, query: str, limit: int = 100) -> list[CertRow]:
        """Certificates whose serial, subscriber NIK, name or e-mail match ``query``, newest
        first.

        A NIK matches exactly; a serial matches exactly in any usual hex form (colons, 0x);
        names and e-mails match as case-insensitive substrings of the subject, SAN and
        subscriber record. An empty query lists the newest certificates.
        """
        q = query.strip()
        stmt = (
            select(Certificate, CertificateAuthority.name, Subscriber.name)
            .join(CertificateAuthority, Certificate.issuer_id == CertificateAuthority.id)
            .outerjoin(Subscriber, Certificate.subscriber_id == Subscriber.id)
            .order_by(Certificate.id.desc())
            .limit(limit)
        )
        if q:
            like = f"%{q.lower()}%"
            conds: list[ColumnElement[bool]] = [
                Certificate.subject_dn.ilike(like),
                Certificate.san.ilike(like),
                Subscriber.name.ilike(like),
                Subscriber.email.ilike(like),
            ]
            if _NIK.fullmatch(q):
                conds.append(Subscriber.nik == q)
            if _HEX.fullmatch(q):
                digits = q.lower().removeprefix("0x").replace(":", "").lstrip("0") or "0"
                conds.append(Certificate.serial_hex == digits)
            stmt = stmt.where(or_(*conds))
        with read_session(self.store) as s:
            rows = s.execute(stmt).all()
        return [
            CertRow(c.id, c.serial_hex, ca, c.subject_dn, c.profile, c.status, c.not_after, sub)
            for c, ca, sub in rows
        ]

    def page(self, cert_id: int) -> CertificatePage | None:
        """Certificate ``cert_id`` with its issuer's name ("?" if the CA row is gone)."""
        with read_session(self.store) as s:
            c = s.get(Certificate, cert_id)
            if c is None:
                return None
            ca = s.get(CertificateAuthority, c.issuer_id)
            sub = s.get(Subscriber, c.subscriber_id) if c.subscriber_id else None
            return CertificatePage(c, ca.name if ca else "?", sub)

    def of_subscriber(self, subscriber_id: int) -> list[Certificate]:
        with read_session(self.store) as s:
            return list(
                s.scalars(select(Certificate).where(Certificate.subscriber_id == subscriber_id))
            )

    def with_profiles(self, profiles: Collection[str]) -> list[Certificate]:
        """Certificates made with any of ``profiles``, oldest first."""
        with read_session(self.store) as s:
            return list(
                s.scalars(
                    select(Certificate)
                    .where(Certificate.profile.in_(tuple(profiles)))
                    .order_by(Certificate.id)
                )
            )

    def subscriber(self, subscriber_id: int) -> Subscriber | None:
        """The subscriber record a console page shows (by row id)."""
        with read_session(self.store) as s:
            return s.get(Subscriber, subscriber_id)
