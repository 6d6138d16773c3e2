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
from typing import Protocol

from ca_core import rollover, subscribers
from ca_core.clock import utcnow
from ca_core.store import Store, expiry_notices

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
    sent: list[str] = []
    for due in expiry_notices.due_notices(store, now, horizon):
        left = max(0, (due.not_after - now).days)
        details = {"subscriber": due.subscriber_key, "not_after": _z(due.not_after),
                   "days_left": left}  # fmt: skip
        if not expiry_notices.claim_notice(
            store, due, now=now, days_left=left, actor=actor, details=details
        ):
            continue  # another process sent it
        try:
            notifier.send(due.email, *_message(due.name, due.serial_hex, due.not_after, left))
        except Exception:
            expiry_notices.release_notice(store, due, actor=actor)  # the next round tries again
            log.exception(
                "expiry notice for %s:%s not sent; retried next round", due.ca, due.serial_hex
            )
            continue
        sent.append(f"{due.ca}:{due.serial_hex}")
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
    store: Store,
    notifier: Notifier,
    *,
    expiry_notice_days: int,
    now: dt.datetime | None = None,
    actor: str = SYSTEM,
    before_write: Callable[[], None] = lambda: None,
) -> LifecycleReport:
    """One round: mark expired subscribers, send the notices that are due (``notifier``, for
    certificates expiring within ``expiry_notice_days``), retire issuing CAs whose rollover is
    complete (ca_core.rollover). ``before_write`` runs before each of the three (the
    refresher's lease check)."""
    now = now or utcnow()
    report = LifecycleReport()
    before_write()
    report.expired = subscribers.expire(store, now=now, actor=actor)
    before_write()
    report.notices = send_expiry_notices(
        store, notifier, days=expiry_notice_days, now=now, actor=actor
    )
    before_write()
    report.retired = rollover.retire_finished(store, now, actor=actor)
    return report


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
