"""The database side of revocation, suspension and release (ca_core.revocation decides).

``Revocations.change`` opens the one transaction a status change runs in and hands out a
:class:`StatusTx`: the certificate's row locked, and the writes that must commit with it — the
new status, the compromised-key blocklist, the subscriber's status, the audit event, the
``status_changes`` feed row and a recognized CA's withdrawal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca_core.audit import AuditRecord
from ca_core.errors import NotFoundError
from ca_core.store import ReadOnlyStore, Store, Tx, status_changes
from ca_core.store.models import (
    BlockedKey,
    Certificate,
    CertificateAuthority,
    SerialReservation,
    Subscriber,
)
from ca_core.store.recognized import withdraw


def is_ca_certificate(source: ReadOnlyStore | Tx, fingerprint_sha256: str | None) -> bool:
    """Whether a CA's own certificate has this fingerprint (whatever profile made it)."""
    if fingerprint_sha256 is None:
        return False
    stmt = select(CertificateAuthority.id).where(
        CertificateAuthority.fingerprint_sha256 == fingerprint_sha256
    )
    if isinstance(source, ReadOnlyStore):
        with source.reading() as conn:
            return conn.execute(stmt).first() is not None
    return source.execute(stmt).first() is not None


class StatusTx:
    """One status change's transaction. ``cert`` is the locked row as it was read."""

    def __init__(self, store: Store, s: Session, cert: Certificate, ca_name: str) -> None:
        self._store = store
        self._s = s
        self.cert = cert
        self.ca_name = ca_name

    def is_ca_level_certificate(self) -> bool:
        """Whether the certificate is a CA's own (see ca_core.ca_level)."""
        return is_ca_certificate(self._s, self.cert.fingerprint_sha256)

    def set_status(
        self,
        status: str,
        *,
        reason: str | None,
        revoked_at: dt.datetime | None,
        invalidity_date: dt.datetime | None,
    ) -> None:
        c = self.cert
        c.status, c.revocation_reason = status, reason
        c.revoked_at, c.invalidity_date = revoked_at, invalidity_date

    def block_key(self, spki_sha256: str, *, reason: str, source: str, at: dt.datetime) -> None:
        """Put a key on the compromised-key blocklist (once)."""
        if self._s.get(BlockedKey, spki_sha256) is None:
            self._s.add(
                BlockedKey(spki_sha256=spki_sha256, reason=reason, source=source, blocked_at=at)
            )

    def subscriber_holds_another_live(self, now: dt.datetime) -> bool:
        """Whether the certificate's subscriber holds another good, unexpired certificate."""
        c = self.cert
        other = self._s.execute(
            select(Certificate.id).where(
                Certificate.subscriber_id == c.subscriber_id,
                Certificate.id != c.id,
                Certificate.status == "good",
                Certificate.not_after > now,
            )
        ).first()
        return other is not None

    def set_subscriber_status(self, status: str) -> None:
        """The certificate's subscriber (if any) gets e-sign status ``status``."""
        if self.cert.subscriber_id is None:
            return
        sub = self._s.get(Subscriber, self.cert.subscriber_id)
        if sub is not None:
            sub.status = status

    def audit(self, actor: str, action: str, obj: str, details: Mapping[str, Any]) -> AuditRecord:
        return self._store.audit.append(actor, action, obj, details, session=self._s)

    def record_change(self, *, actor: str, changed_at: dt.datetime) -> None:
        """The feed row for the certificate's new status; after the audit append (cursor
        order is commit order, see ca_core.store.status_changes)."""
        c = self.cert
        status_changes.record(
            self._s,
            issuer_id=c.issuer_id,
            serial_hex=c.serial_hex,
            status=c.status,
            reason=c.revocation_reason,
            revoked_at=c.revoked_at,
            changed_at=changed_at,
            actor=actor,
        )

    def withdraw_recognized(self, at: dt.datetime, actor: str, reason: str) -> str | None:
        """A recognized PSrE's CA certified by this certificate: withdrawn with it."""
        c = self.cert
        return withdraw(self._s, self._store.audit, c.issuer_id, c.serial_hex, at, actor, reason)


class Revocations:
    """Finding certificates to change and the transaction that changes one."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def issuers_of(self, serial_hex: str, ca: str | None) -> set[int]:
        """The CAs that issued (or reserved) ``serial_hex``, limited to CA ``ca`` if named.
        Raises NotFoundError for an unknown CA name."""
        with self._store.reading() as conn:
            q = select(Certificate.issuer_id).where(Certificate.serial_hex == serial_hex)
            rq = select(SerialReservation.issuer_id).where(
                SerialReservation.serial_hex == serial_hex
            )
            if ca is not None:
                ca_id = conn.execute(
                    select(CertificateAuthority.id).where(CertificateAuthority.name == ca)
                ).scalar_one_or_none()
                if ca_id is None:
                    raise NotFoundError(f"no CA named {ca!r}")
                q = q.where(Certificate.issuer_id == ca_id)
                rq = rq.where(SerialReservation.issuer_id == ca_id)
            return set(conn.execute(q).scalars()) or set(conn.execute(rq).scalars())

    def is_stored(self, issuer_id: int, serial_hex: str) -> bool:
        """Whether the certificate row exists (not only a reservation)."""
        with self._store.reading() as conn:
            found = conn.execute(
                select(Certificate.id).where(
                    Certificate.issuer_id == issuer_id, Certificate.serial_hex == serial_hex
                )
            ).first()
        return found is not None

    @contextmanager
    def change(self, issuer_id: int, serial_hex: str) -> Iterator[StatusTx]:
        """The certificate locked for update in a write transaction (committed when the block
        ends, rolled back if it raises)."""
        with self._store.session() as s:
            c = s.execute(
                select(Certificate)
                .where(Certificate.issuer_id == issuer_id, Certificate.serial_hex == serial_hex)
                .with_for_update()
            ).scalar_one()
            ca = s.get(CertificateAuthority, issuer_id)
            assert ca is not None  # the foreign key
            yield StatusTx(self._store, s, c, ca.name)
