"""Revocation and suspension (RFC 5280 §5.3.1 reason codes; certificateHold = the e-sign API's
SUSPEND).

Revocation is final: revoking a revoked certificate again changes nothing and says so. A
certificate on hold can be released (``unsuspend``) or revoked for good. ``keyCompromise`` puts
the key on the compromised-key blocklist, so it is never certified again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select

from ca_core import audit_objects
from ca_core.ca_level import Authorisation, guard
from ca_core.errors import CaError, NotFoundError
from ca_core.events import StatusEvent
from ca_core.names import REASONS
from ca_core.recognized import withdraw
from ca_core.store import Store, normalize_serial
from ca_core.store.db import utcnow
from ca_core.store.models import (
    BlockedKey,
    Certificate,
    CertificateAuthority,
    SerialReservation,
    Subscriber,
)

#: Reason names as stored → cryptography's flags, for CRL entries and OCSP answers alike
#: (removeFromCRL appears only in delta CRLs, when a hold is lifted).
REASON_FLAGS: dict[str, x509.ReasonFlags] = {
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "removeFromCRL": x509.ReasonFlags.remove_from_crl,
}


class RevocationError(CaError):
    code = "revocation_error"


@dataclass(frozen=True)
class StatusChange:
    serial_hex: str
    issuer: str
    status: str
    reason: str | None
    revoked_at: dt.datetime | None
    changed: bool


def normalise_serial(serial: str) -> str:
    """Accept what people paste: ``openssl x509 -serial`` output, colons, 0x, upper case."""
    s = serial.strip()
    s = s.split("=", 1)[1] if s.lower().startswith("serial=") else s
    try:
        return normalize_serial(s)
    except ValueError:
        raise RevocationError(f"serial {serial!r} is not hexadecimal") from None


class Revoker:
    def __init__(
        self,
        store: Store,
        recover: Callable[[int, str], object],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.store = store
        #: Completes a reserved-but-unstored serial (Issuer.recover) so it can be revoked.
        self._recover = recover
        self.clock = clock

    def _find(self, serial: str, ca: str | None) -> tuple[int, str]:
        sh = normalise_serial(serial)
        with self.store.session() as s:
            q = select(Certificate.issuer_id).where(Certificate.serial_hex == sh)
            rq = select(SerialReservation.issuer_id).where(SerialReservation.serial_hex == sh)
            if ca is not None:
                ca_id = s.execute(
                    select(CertificateAuthority.id).where(CertificateAuthority.name == ca)
                ).scalar_one_or_none()
                if ca_id is None:
                    raise NotFoundError(f"no CA named {ca!r}")
                q = q.where(Certificate.issuer_id == ca_id)
                rq = rq.where(SerialReservation.issuer_id == ca_id)
            ids = set(s.execute(q).scalars()) or set(s.execute(rq).scalars())
        if not ids:
            raise NotFoundError(f"no certificate with serial {sh}")
        if len(ids) > 1:
            raise RevocationError(f"serial {sh} exists under several CAs; name the CA")
        issuer_id = ids.pop()
        return issuer_id, sh

    def _load(self, issuer_id: int, sh: str) -> None:
        with self.store.session() as s:
            exists = s.execute(
                select(Certificate.id).where(
                    Certificate.issuer_id == issuer_id, Certificate.serial_hex == sh
                )
            ).first()
        if exists is None:
            # Reserved but never stored (crash after signing): it counts as issued, so
            # complete it from its reserved TBS and then change its status.
            self._recover(issuer_id, sh)

    def revoke(
        self,
        serial: str,
        reason: str,
        *,
        actor: str,
        ca: str | None = None,
        invalidity_date: dt.datetime | None = None,
        authorisation: Authorisation | None = None,
    ) -> StatusChange:
        """Revoke (or, with ``certificateHold``, suspend) a certificate. A CA-level one (a CA,
        the OCSP responder, the TSA) needs ``authorisation``: see :mod:`ca_core.ca_level`."""
        if reason not in REASONS:
            raise RevocationError(f"unknown reason {reason!r} (use one of {', '.join(REASONS)})")
        issuer_id, sh = self._find(serial, ca)
        self._load(issuer_id, sh)
        now = self.clock().replace(microsecond=0)
        with self.store.session() as s:
            c = s.execute(
                select(Certificate)
                .where(Certificate.issuer_id == issuer_id, Certificate.serial_hex == sh)
                .with_for_update()
            ).scalar_one()
            ca_name = s.get(CertificateAuthority, issuer_id).name  # type: ignore[union-attr]
            guard(s, c, authorisation)
            if c.status == "revoked":
                return StatusChange(sh, ca_name, c.status, c.revocation_reason, c.revoked_at, False)
            if reason == "certificateHold":
                if c.status == "hold":
                    return StatusChange(
                        sh, ca_name, c.status, c.revocation_reason, c.revoked_at, False
                    )
                c.status = "hold"
                action = "certificate.suspend"
            else:
                c.status = "revoked"
                action = "certificate.revoke"
            c.revoked_at = now
            c.revocation_reason = reason
            c.invalidity_date = invalidity_date
            if reason == "keyCompromise" and c.spki_sha256:
                if s.get(BlockedKey, c.spki_sha256) is None:
                    s.add(
                        BlockedKey(
                            spki_sha256=c.spki_sha256,
                            reason="keyCompromise",
                            source=f"{ca_name}:{sh}",
                            blocked_at=now,
                        )
                    )
            self._subscriber_follow(s, c, "SUSPEND" if c.status == "hold" else "REVOKE")
            details: dict[str, object] = {
                "reason": reason,
                "revoked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            if authorisation is not None:
                details["authorisation"] = authorisation.as_details()
            self.store.audit.append(
                actor, action, audit_objects.certificate(ca_name, sh), details, session=s
            )
            if c.status == "revoked":
                # A recognized PSrE's CA (PSrE Induk): the trusted list shows it withdrawn.
                withdraw(s, self.store.audit, issuer_id, sh, now, actor, reason)
            change = StatusChange(sh, ca_name, c.status, reason, now, True)
        self.store.events.publish(StatusEvent(change.status, ca_name, sh))
        return change

    def suspend(
        self,
        serial: str,
        *,
        actor: str,
        ca: str | None = None,
        authorisation: Authorisation | None = None,
    ) -> StatusChange:
        return self.revoke(
            serial, "certificateHold", actor=actor, ca=ca, authorisation=authorisation
        )

    def unsuspend(
        self,
        serial: str,
        *,
        actor: str,
        ca: str | None = None,
        authorisation: Authorisation | None = None,
    ) -> StatusChange:
        issuer_id, sh = self._find(serial, ca)
        self._load(issuer_id, sh)
        with self.store.session() as s:
            c = s.execute(
                select(Certificate)
                .where(Certificate.issuer_id == issuer_id, Certificate.serial_hex == sh)
                .with_for_update()
            ).scalar_one()
            ca_name = s.get(CertificateAuthority, issuer_id).name  # type: ignore[union-attr]
            guard(s, c, authorisation)
            if c.status != "hold":
                raise RevocationError(
                    f"certificate {sh} is {c.status}, not suspended; only a hold can be released"
                )
            c.status = "good"
            c.revoked_at = None
            c.revocation_reason = None
            c.invalidity_date = None
            self._subscriber_follow(s, c, "ISSUE")
            details = {} if authorisation is None else {"authorisation": authorisation.as_details()}
            self.store.audit.append(
                actor,
                "certificate.unsuspend",
                audit_objects.certificate(ca_name, sh),
                details,
                session=s,
            )
        self.store.events.publish(StatusEvent("released", ca_name, sh))
        return StatusChange(sh, ca_name, "good", None, None, True)

    @staticmethod
    def _subscriber_follow(s: object, c: Certificate, status: str) -> None:
        """The subscriber's e-sign status follows their signing certificate."""
        if c.subscriber_id is None:
            return
        if status != "ISSUE":
            # Revoking or suspending a superseded certificate leaves a subscriber who holds
            # another live one able to sign: their status follows their current certificate.
            other = s.execute(  # type: ignore[attr-defined]
                select(Certificate.id).where(
                    Certificate.subscriber_id == c.subscriber_id,
                    Certificate.id != c.id,
                    Certificate.status == "good",
                    Certificate.not_after > utcnow(),
                )
            ).first()
            if other is not None:
                return
        sub = s.get(Subscriber, c.subscriber_id)  # type: ignore[attr-defined]
        if sub is not None:
            sub.status = status
