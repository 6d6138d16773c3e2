"""Expiry notices: which good certificates expire soon and were not noticed yet, and the
``expiry_notices`` row that makes a notice go out once (ca_core.lifecycle)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ca_core import audit_objects
from ca_core.errors import AlreadyExistsError
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import Certificate, CertificateAuthority, ExpiryNotice, Subscriber
from ca_core.store.sessions import read_session


@dataclass(frozen=True)
class DueNotice:
    """A good certificate expiring soon, and where its holder is told."""

    certificate_id: int
    serial_hex: str
    not_after: dt.datetime
    ca: str
    email: str
    name: str
    #: NIK (person) or organizationIdentifier (agency).
    subscriber_key: str | None


def due_notices(store: ReadOnlyStore, now: dt.datetime, horizon: dt.datetime) -> list[DueNotice]:
    """Good certificates with notAfter in (now, horizon] and no notice yet, soonest first."""
    noticed = select(ExpiryNotice.certificate_id).where(
        ExpiryNotice.certificate_id == Certificate.id
    )
    stmt = (
        select(
            Certificate.id,
            Certificate.serial_hex,
            Certificate.not_after,
            CertificateAuthority.name,
            Subscriber.email,
            Subscriber.name,
            Subscriber.nik,
            Subscriber.organization_identifier,
        )
        .join(Subscriber, Subscriber.id == Certificate.subscriber_id)
        .join(CertificateAuthority, CertificateAuthority.id == Certificate.issuer_id)
        .where(
            Certificate.status == "good",
            Certificate.not_after > now,
            Certificate.not_after <= horizon,
            ~noticed.exists(),
        )
        .order_by(Certificate.not_after)
    )
    with read_session(store) as s:
        rows = s.execute(stmt).all()
    return [
        DueNotice(cert_id, sh, not_after, ca, email, name, nik or org)
        for cert_id, sh, not_after, ca, email, name, nik, org in rows
    ]


def claim_notice(
    store: Store,
    notice: DueNotice,
    *,
    now: dt.datetime,
    days_left: int,
    actor: str,
    details: Mapping[str, Any],
) -> bool:
    """Record that ``notice`` is being sent, with its audit event; False when another process
    claimed it first (the row's primary key is the certificate)."""
    try:
        with store.session() as s:
            s.add(
                ExpiryNotice(
                    certificate_id=notice.certificate_id, sent_at=now, days_before=days_left
                )
            )
            s.flush()
            store.audit.append(
                actor,
                "certificate.expiry_notice",
                audit_objects.certificate(notice.ca, notice.serial_hex),
                details,
                session=s,
            )
    except AlreadyExistsError:
        return False
    return True


def release_notice(store: Store, notice: DueNotice, *, actor: str) -> None:
    """Take the claim back (the message was not sent: the next round tries again), audited."""
    with store.session() as s:
        row = s.get(ExpiryNotice, notice.certificate_id)
        if row is not None:
            s.delete(row)
        store.audit.append(
            actor,
            "certificate.expiry_notice_failed",
            audit_objects.certificate(notice.ca, notice.serial_hex),
            {},
            session=s,
        )
