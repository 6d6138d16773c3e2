"""Certificate lifecycles over time: expiry, and the notice before it.

Run by the refresher (``psre refresher``, at most every ``lifecycle.check_minutes``) and by
``psre lifecycle run`` (cron, or by hand):

* subscribers whose every certificate has run out become EXPIRED (``subscribers.expire``,
  audited as ``subscriber.status``);
* the holder of a good certificate that expires within ``lifecycle.expiry_notice_days`` is told
  once, through the notifier the signing API uses for codes (the outbox, for a mail gateway).
  The ``expiry_notices`` row is the "once": its primary key is the certificate, so several
  workers running this at the same time send one notice; it is written with its audit event
  before the message goes out, and taken back if sending fails, so the next round retries.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from ca_core import audit_objects, rollover, subscribers
from ca_core.errors import AlreadyExistsError
from ca_core.store import Store
from ca_core.store.models import Certificate, CertificateAuthority, ExpiryNotice, Subscriber

if TYPE_CHECKING:
    from ca_core.runtime import Runtime

log = logging.getLogger(__name__)
SYSTEM = "system"


class Notifier(Protocol):
    def send(self, recipient: str, subject: str, body: str) -> None: ...


@dataclass
class LifecycleReport:
    expired: int = 0
    retired: list[str] = field(default_factory=list)  # issuing CAs retired after a rollover
    notices: list[str] = field(default_factory=list)  # "ca:serial" per notice sent


def send_expiry_notices(
    store: Store, notifier: Notifier, *, days: int, now: dt.datetime, actor: str = SYSTEM
) -> list[str]:
    """Tell each holder of a good certificate expiring within ``days`` — once per certificate."""
    horizon = now + dt.timedelta(days=days)
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
    with store.session() as s:
        due = s.execute(stmt).all()
    sent: list[str] = []
    for cert_id, sh, not_after, ca, email, name, nik, org in due:
        key = nik or org
        left = max(0, (not_after - now).days)
        try:
            with store.session() as s:
                s.add(ExpiryNotice(certificate_id=cert_id, sent_at=now, days_before=left))
                s.flush()
                store.audit.append(
                    actor,
                    "certificate.expiry_notice",
                    audit_objects.certificate(ca, sh),
                    {"subscriber": key, "not_after": _z(not_after), "days_left": left},
                    session=s,
                )
        except AlreadyExistsError:
            continue  # another process sent it
        try:
            notifier.send(email, *_message(name, sh, not_after, left))
        except Exception:
            with store.session() as s:  # not sent: the next round tries again
                row = s.get(ExpiryNotice, cert_id)
                if row is not None:
                    s.delete(row)
                store.audit.append(
                    actor,
                    "certificate.expiry_notice_failed",
                    audit_objects.certificate(ca, sh),
                    {},
                    session=s,
                )
            log.exception("expiry notice for %s:%s not sent; retried next round", ca, sh)
            continue
        sent.append(f"{ca}:{sh}")
    return sent


def _message(name: str, sh: str, not_after: dt.datetime, left: int) -> tuple[str, str]:
    when = not_after.strftime("%Y-%m-%d %H:%M UTC")
    subject = "Sertifikat elektronik Anda segera kedaluwarsa / Your certificate expires soon"
    body = (
        f"Yth. {name},\n\n"
        f"sertifikat elektronik Anda (nomor seri {sh}) berlaku sampai {when} ({left} hari lagi).\n"
        "Hubungi RA instansi Anda untuk pembaruan (renewal) sebelum tanggal tersebut.\n\n"
        f"Your electronic certificate (serial {sh}) is valid until {when} ({left} days).\n"
        "Ask your agency's RA to renew it before then.\n"
    )
    return subject, body


def run(
    rt: Runtime,
    *,
    now: dt.datetime | None = None,
    actor: str = SYSTEM,
    before_write: Callable[[], None] = lambda: None,
) -> LifecycleReport:
    """One round: mark expired subscribers, send the notices that are due, retire issuing CAs
    whose rollover is complete (ca_core.rollover). ``before_write`` runs before each of the
    three (the refresher's lease check)."""
    from ca_core.notifier import notifier_for

    now = now or dt.datetime.now(dt.UTC)
    report = LifecycleReport()
    before_write()
    report.expired = subscribers.expire(rt.store, now=now, actor=actor)
    before_write()
    report.notices = send_expiry_notices(
        rt.store,
        notifier_for(rt.store, rt.config.signing.notifier),
        days=rt.config.lifecycle.expiry_notice_days,
        now=now,
        actor=actor,
    )
    before_write()
    report.retired = rollover.retire_finished(rt.store, now, actor=actor)
    return report


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
