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

from ca_core import audit_objects
from ca_core.ca_level import Authorisation, guard
from ca_core.clock import Clock, utcnow
from ca_core.errors import CaError, NotFoundError
from ca_core.events import StatusEvent
from ca_core.names import REASONS
from ca_core.store import Store, normalize_serial
from ca_core.store.revocations import Revocations, StatusTx

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
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self._db = Revocations(store)
        #: Completes a reserved-but-unstored serial (Issuer.recover) so it can be revoked.
        self._recover = recover
        self.clock = clock

    def _find(self, serial: str, ca: str | None) -> tuple[int, str]:
        sh = normalise_serial(serial)
        ids = self._db.issuers_of(sh, ca)
        if not ids:
            raise NotFoundError(f"no certificate with serial {sh}")
        if len(ids) > 1:
            raise RevocationError(f"serial {sh} exists under several CAs; name the CA")
        issuer_id = ids.pop()
        return issuer_id, sh

    def _load(self, issuer_id: int, sh: str) -> None:
        if not self._db.is_stored(issuer_id, sh):
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
        with self._db.change(issuer_id, sh) as tx:
            c, ca_name = tx.cert, tx.ca_name
            guard(tx, authorisation)
            if c.status == "revoked":
                return StatusChange(sh, ca_name, c.status, c.revocation_reason, c.revoked_at, False)
            if reason == "certificateHold":
                if c.status == "hold":
                    return StatusChange(
                        sh, ca_name, c.status, c.revocation_reason, c.revoked_at, False
                    )
                status, action = "hold", "certificate.suspend"
            else:
                status, action = "revoked", "certificate.revoke"
            tx.set_status(status, reason=reason, revoked_at=now, invalidity_date=invalidity_date)
            if reason == "keyCompromise" and c.spki_sha256:
                tx.block_key(
                    c.spki_sha256, reason="keyCompromise", source=f"{ca_name}:{sh}", at=now
                )
            self._subscriber_follow(tx, "SUSPEND" if status == "hold" else "REVOKE", now)
            details: dict[str, object] = {
                "reason": reason,
                "revoked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            if authorisation is not None:
                details["authorisation"] = authorisation.as_details()
            event = tx.audit(actor, action, audit_objects.certificate(ca_name, sh), details)
            tx.record_change(actor=actor, changed_at=event.time)
            if status == "revoked":
                # A recognized PSrE's CA (PSrE Induk): the trusted list shows it withdrawn.
                tx.withdraw_recognized(now, actor, reason)
            change = StatusChange(sh, ca_name, status, reason, now, True)
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
        with self._db.change(issuer_id, sh) as tx:
            c, ca_name = tx.cert, tx.ca_name
            guard(tx, authorisation)
            if c.status != "hold":
                raise RevocationError(
                    f"certificate {sh} is {c.status}, not suspended; only a hold can be released"
                )
            tx.set_status("good", reason=None, revoked_at=None, invalidity_date=None)
            self._subscriber_follow(tx, "ISSUE", self.clock())
            details = {} if authorisation is None else {"authorisation": authorisation.as_details()}
            event = tx.audit(
                actor, "certificate.unsuspend", audit_objects.certificate(ca_name, sh), details
            )
            tx.record_change(actor=actor, changed_at=event.time)
        self.store.events.publish(StatusEvent("released", ca_name, sh))
        return StatusChange(sh, ca_name, "good", None, None, True)

    @staticmethod
    def _subscriber_follow(tx: StatusTx, status: str, now: dt.datetime) -> None:
        """The subscriber's e-sign status follows their signing certificate, as it stands at
        ``now``: the change's own time (a restore re-applies a revocation at its published
        time), not today's."""
        if tx.cert.subscriber_id is None:
            return
        # Revoking or suspending a superseded certificate leaves a subscriber who holds
        # another live one able to sign: their status follows their current certificate.
        if status != "ISSUE" and tx.subscriber_holds_another_live(now):
            return
        tx.set_subscriber_status(status)
