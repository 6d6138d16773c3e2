"""Which HSM keys the database names: the orphan sweep (ca_core.orphans) removes subscriber keys
no row names, and a failed ceremony step (ceremony_scripts.runner) keeps a key a row depends on."""

from __future__ import annotations

from sqlalchemy import CompoundSelect, select, union

from ca_core.store import ReadOnlyStore
from ca_core.store.models import Certificate, CertificateAuthority, OcspResponse, SerialReservation
from ca_core.store.sessions import read_session


def known_labels(store: ReadOnlyStore) -> set[str]:
    """Every key label a database row names (certificate, reservation, CA, OCSP response)."""
    stmt: CompoundSelect[str] = union(
        select(Certificate.key_label).where(Certificate.key_label.is_not(None)),
        select(SerialReservation.key_label).where(SerialReservation.key_label.is_not(None)),
        select(CertificateAuthority.key_label),
        select(OcspResponse.signer_label),
    )
    with read_session(store) as s:
        return {row[0] for row in s.execute(stmt)}


def certified(store: ReadOnlyStore, spki_sha256: str) -> bool:
    """Whether a stored certificate certifies the key with this SPKI hash."""
    with read_session(store) as s:
        found = s.scalar(select(Certificate.id).where(Certificate.spki_sha256 == spki_sha256))
    return found is not None


def serial_reserved_for(store: ReadOnlyStore, label: str) -> bool:
    """Whether a serial was reserved for the key ``label``: for a certificate of that key, or
    by a CA whose key it is (to be recovered before the key may go)."""
    with read_session(store) as s:
        ca_ids = s.scalars(
            select(CertificateAuthority.id).where(CertificateAuthority.key_label == label)
        ).all()
        if ca_ids and s.scalar(
            select(SerialReservation.id).where(SerialReservation.issuer_id.in_(ca_ids))
        ):
            return True
        found = s.scalar(select(SerialReservation.id).where(SerialReservation.key_label == label))
    return found is not None
