"""Recognized CAs (table ``recognized_cas``): what the trusted list and the verifier read, and
their withdrawal when the certificate that recognized them is revoked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update

from ca_core import audit_objects
from ca_core.store import ReadOnlyStore, Tx
from ca_core.store.audit_log import AuditLog
from ca_core.store.models import RecognizedCa


@dataclass(frozen=True)
class Recognized:
    name: str
    kind: str  # psre | foreign-root
    display_name: str
    certificate_der: bytes
    fingerprint_sha256: str
    self_signed_der: bytes | None
    service_url: str | None
    status: str  # granted | withdrawn
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None
    issuer_id: int
    serial_hex: str


def list_recognized(store: ReadOnlyStore) -> list[Recognized]:
    """Every recognized CA, oldest grant first."""
    with store.reading() as conn:
        rows = conn.execute(select(RecognizedCa).order_by(RecognizedCa.granted_at, RecognizedCa.id))
        return [
            Recognized(
                name=r.name,
                kind=r.kind,
                display_name=r.display_name,
                certificate_der=r.certificate_der,
                fingerprint_sha256=r.fingerprint_sha256,
                self_signed_der=r.self_signed_der,
                service_url=r.service_url,
                status=r.status,
                granted_at=_utc(r.granted_at),
                withdrawn_at=_utc(r.withdrawn_at) if r.withdrawn_at else None,
                issuer_id=r.issuer_id,
                serial_hex=r.serial_hex,
            )
            for r in rows
        ]


def _utc(t: dt.datetime) -> dt.datetime:
    # Core-level reads (conn.execute) return the stored naive UTC value on some dialects.
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def withdraw(
    tx: Tx, audit: AuditLog, issuer_id: int, serial_hex: str, at: dt.datetime, actor: str,
    reason: str,
) -> str | None:  # fmt: skip
    """Mark the recognized CA certified by ``issuer_id`` under ``serial_hex`` withdrawn (its
    certificate was just revoked, in transaction ``tx``), audited; returns its name, or None if
    the certificate is not a recognized CA's. Whichever way the revocation came (a
    ``revoke-psre`` or ``revoke-ca`` ceremony step, two admins), the trusted list follows it."""
    row = tx.execute(
        select(RecognizedCa.id, RecognizedCa.name).where(
            RecognizedCa.issuer_id == issuer_id,
            RecognizedCa.serial_hex == serial_hex,
            RecognizedCa.status == "granted",
        )
    ).first()
    if row is None:
        return None
    tx.execute(
        update(RecognizedCa)
        .where(RecognizedCa.id == row.id)
        .values(status="withdrawn", withdrawn_at=at)
        .execution_options(synchronize_session=False)
    )
    audit.append(
        actor,
        "psre.withdraw",
        audit_objects.recognized(row.name),
        {
            "status": "withdrawn",
            "reason": reason,
            "withdrawn_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        session=tx,
    )
    return str(row.name)
