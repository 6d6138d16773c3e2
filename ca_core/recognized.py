"""The CAs the PSrE Induk recognizes (licensed PSrEs' CAs, cross-certified foreign roots), as
the trusted list and the verifier read them (the ceremony steps in ceremony_scripts.induk write
them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from ca_core.models import RecognizedCa
from ca_core.store import ReadOnlyStore


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
