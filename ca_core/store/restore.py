"""After a restore: the writes that tell the database what it missed (ca_core.restore_reconcile
decides them), all in one transaction with the ``system.restore`` audit event.

A serial recorded lost is revoked like any certificate, so it gets its ``status_changes`` row
(ca_core.store.status_changes) in that transaction too, written after the audit event as every
status change's is: the CRL publisher and the refresher's OCSP follower read the feed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca_core.errors import StoreError
from ca_core.store import Store, status_changes
from ca_core.store.certificate_status import CertStatus, decide_status
from ca_core.store.models import (
    Certificate,
    CertificateAuthority,
    CrlCounter,
    LostSerial,
    SerialReservation,
)


class RestoreTransaction:
    """The reconciliation's reads and writes, inside one transaction: committed when the
    ``transaction`` block ends, rolled back (nothing changed) if it raises."""

    def __init__(self, store: Store, session: Session) -> None:
        self._store = store
        self._s = session
        #: Serials recorded lost, (CA id, serial, status): their feed rows follow the audit event.
        self._lost: list[tuple[int, str, CertStatus]] = []

    def cas(self) -> list[CertificateAuthority]:
        return list(self._s.scalars(select(CertificateAuthority)))

    def lock_crl_number(self, ca_id: int) -> int:
        """The CA's last CRL number (0 if it has none yet), locked until the end."""
        counter = self._s.get(CrlCounter, ca_id, with_for_update=True)
        return counter.last_number if counter else 0

    def set_crl_number(self, ca_id: int, number: int) -> None:
        counter = self._s.get(CrlCounter, ca_id)
        if counter is None:
            self._s.add(CrlCounter(issuer_id=ca_id, last_number=number))
        else:
            counter.last_number = number

    def statuses(self, ca_id: int, serials: Collection[str]) -> dict[str, str]:
        """Serial -> status of the stored certificates among ``serials``."""
        rows = self._s.execute(
            select(Certificate.serial_hex, Certificate.status).where(
                Certificate.issuer_id == ca_id,
                Certificate.serial_hex.in_(list(serials) or [""]),
            )
        ).all()
        return {sh: status for sh, status in rows}

    def reserved(self, ca_id: int, serials: Collection[str]) -> set[str]:
        """Those of ``serials`` that have a serial reservation."""
        return set(
            self._s.scalars(
                select(SerialReservation.serial_hex).where(
                    SerialReservation.issuer_id == ca_id,
                    SerialReservation.serial_hex.in_(list(serials) or [""]),
                )
            )
        )

    def record_lost(
        self,
        ca_id: int,
        serial_hex: str,
        *,
        revoked_at: dt.datetime,
        reason: str | None,
        found_in: str,
        now: dt.datetime,
        profile: str,
    ) -> None:
        """A serial issued after the backup: abandoned (never used again) and revoked. Its
        ``status_changes`` row is written by :meth:`audit`, after the restore's audit event."""
        self._s.add(
            SerialReservation(
                issuer_id=ca_id, serial_hex=serial_hex, reserved_at=now, state="abandoned",
                profile=profile,
            )
        )  # fmt: skip
        self._s.add(
            LostSerial(
                issuer_id=ca_id, serial_hex=serial_hex, revoked_at=revoked_at,
                revocation_reason=reason, found_in=found_in, recorded_at=now,
            )
        )  # fmt: skip
        # The status the store now answers for the serial (the same rule decides it).
        self._lost.append(
            (ca_id, serial_hex, decide_status(None, (revoked_at, reason), "abandoned"))
        )

    def certificate(self, ca_id: int, serial_hex: str) -> Certificate:
        return self._s.execute(
            select(Certificate).where(
                Certificate.issuer_id == ca_id, Certificate.serial_hex == serial_hex
            )
        ).scalar_one()

    def is_ca_fingerprint(self, fingerprint_sha256: str) -> bool:
        """Whether a CA record's certificate has this fingerprint."""
        found = self._s.execute(
            select(CertificateAuthority.id).where(
                CertificateAuthority.fingerprint_sha256 == fingerprint_sha256
            )
        ).first()
        return found is not None

    def audit(
        self, actor: str, action: str, obj: str, details: Mapping[str, Any], now: dt.datetime
    ) -> None:
        """Append the restore's audit event, then the feed rows of the serials recorded lost
        (cursor order is commit order only for rows written after the audit append)."""
        self._store.audit.append(actor, action, obj, details, session=self._s, now=now)
        for ca_id, serial_hex, st in self._lost:
            status_changes.record(
                self._s,
                issuer_id=ca_id,
                serial_hex=serial_hex,
                status=st.status,
                reason=st.reason,
                revoked_at=st.revoked_at,
                changed_at=now,
                actor=actor,
            )
        self._lost.clear()


@contextmanager
def transaction(store: Store) -> Iterator[RestoreTransaction]:
    """A restore transaction; one that recorded lost serials commits only with its audit
    event (and so with their feed rows): without it, it is rolled back."""
    with store.session() as s:
        tx = RestoreTransaction(store, s)
        yield tx
        if tx._lost:
            raise StoreError("serials recorded lost without the restore's audit event: rolled back")
