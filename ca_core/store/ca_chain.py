"""Every CA with its own certificate's status: what ca_core.ca_standing walks up a chain."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ca_core.store import ReadOnlyStore
from ca_core.store.models import Certificate, CertificateAuthority


@dataclass(frozen=True)
class CaStanding:
    """A CA row and the status of its own certificate (None: no certificates row for it)."""

    id: int
    parent_id: int | None
    name: str
    certificate_der: bytes | None
    status: str | None
    revocation_reason: str | None


_STANDING = select(
    CertificateAuthority.id,
    CertificateAuthority.parent_id,
    CertificateAuthority.name,
    CertificateAuthority.certificate_der,
    Certificate.status,
    Certificate.revocation_reason,
).outerjoin(Certificate, Certificate.fingerprint_sha256 == CertificateAuthority.fingerprint_sha256)


def ca_standings(store: ReadOnlyStore) -> dict[int, CaStanding]:
    """Every CA by id, with its certificate's status: one small query, read every time (a
    revocation by another process counts at once)."""
    with store.reading() as conn:
        return {r.id: CaStanding(*r) for r in conn.execute(_STANDING)}
