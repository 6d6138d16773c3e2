"""CA records beyond ReadOnlyStore.get_ca / Store.add_ca: storing a CA's certificate once its
parent signed it, removing a record a failed ceremony step left without one, and the external
trust anchor above a CA certified elsewhere. Every change is audited in its own transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from ca_core import audit_objects
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import CertificateAuthority, SerialReservation
from ca_core.store.sessions import read_session


@dataclass(frozen=True)
class AuditNote:
    """The audit event written with a change: who, which action, what details."""

    actor: str
    action: str
    details: Mapping[str, Any]


def set_certificate(
    store: Store, name: str, *, der: bytes, fingerprint_sha256: str, subject_dn: str
) -> None:
    """Store the certificate of CA ``name`` (recorded before its parent signed it)."""
    with store.session() as s:
        ca = s.execute(
            select(CertificateAuthority).where(CertificateAuthority.name == name)
        ).scalar_one()
        ca.certificate_der = der
        ca.fingerprint_sha256 = fingerprint_sha256
        ca.subject_dn = subject_dn


def remove_uncertified(
    store: Store, name: str, note: AuditNote, *, drop_reservations: bool
) -> bool:
    """Remove CA ``name`` if it has no certificate (audited as ``note``); True if removed.

    Its serial reservations are removed with it when ``drop_reservations``; otherwise a
    reservation (an issuance to recover) keeps the record.
    """
    with store.session() as s:
        ca = s.execute(
            select(CertificateAuthority).where(CertificateAuthority.name == name)
        ).scalar_one_or_none()
        if ca is None or ca.certificate_der is not None:
            return False
        if drop_reservations:
            s.execute(delete(SerialReservation).where(SerialReservation.issuer_id == ca.id))
        elif s.scalar(select(SerialReservation.id).where(SerialReservation.issuer_id == ca.id)):
            return False
        s.execute(delete(CertificateAuthority).where(CertificateAuthority.id == ca.id))
        store.audit.append(note.actor, note.action, audit_objects.ca(name), note.details, session=s)
    return True


def key_certified(store: ReadOnlyStore, key_label: str) -> bool:
    """Whether a CA with a certificate uses the key ``key_label``."""
    with read_session(store) as s:
        found = s.scalar(
            select(CertificateAuthority.id).where(
                CertificateAuthority.key_label == key_label,
                CertificateAuthority.certificate_der.is_not(None),
            )
        )
    return found is not None


def is_ca_fingerprint(store: ReadOnlyStore, fingerprint_sha256: str) -> bool:
    """Whether a CA record's certificate has this fingerprint."""
    with read_session(store) as s:
        found = s.scalar(
            select(CertificateAuthority.id).where(
                CertificateAuthority.fingerprint_sha256 == fingerprint_sha256
            )
        )
    return found is not None


def external_anchor(
    store: Store,
    *,
    der: bytes,
    fingerprint_sha256: str,
    subject_dn: str,
    key_spec: str,
    actor: str,
) -> int:
    """The id of the CA record with this certificate, made (status ``external``, no key of
    ours, named ``external-<fingerprint prefix>``, audited as ca.import) if there is none."""
    with store.session() as s:
        found = s.scalar(
            select(CertificateAuthority.id).where(
                CertificateAuthority.fingerprint_sha256 == fingerprint_sha256
            )
        )
        if found is not None:
            return int(found)
        name = f"external-{fingerprint_sha256[:16]}"
        row = CertificateAuthority(
            name=name,
            subject_dn=subject_dn,
            key_label="",
            key_spec=key_spec,
            certificate_der=der,
            fingerprint_sha256=fingerprint_sha256,
            status="external",
        )
        s.add(row)
        s.flush()
        store.audit.append(
            actor,
            "ca.import",
            audit_objects.ca(name),
            {"subject": subject_dn, "fingerprint_sha256": fingerprint_sha256, "status": "external"},
            session=s,
        )
        return row.id
