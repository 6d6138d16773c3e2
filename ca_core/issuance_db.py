"""The issuance pipeline's database statements, built once.

Issuing a certificate runs about ten statements. Building a SQLAlchemy statement and computing
its cache key on every call cost more CPU than executing it, and the ORM's unit of work more
again, so the hot path runs these prepared Core statements on a plain Connection
(``Store.reading()`` / ``Store.writing()``) with bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from ca_core.store.models import (
    BlockedKey,
    Certificate,
    CertificateAuthority,
    SerialReservation,
    Subscriber,
)


@dataclass(frozen=True)
class KnownKey:
    """What the database knows about a public key when a request for it is checked."""

    #: {its SPKI SHA-256} when the key is on the blocklist, else empty.
    blocked: frozenset[str]
    #: (subscriber_id, profile, status, not_after, serial_hex, issuer_id) of its certificates.
    certified: tuple[tuple[int | None, str, str, datetime, str, int], ...]


_CA_COLUMNS = [c for c in CertificateAuthority.__table__.columns]
_CA_BY_NAME = select(*_CA_COLUMNS).where(CertificateAuthority.name == bindparam("name"))
_RESERVED_FOR_KEY = select(SerialReservation.serial_hex).where(
    SerialReservation.issuer_id == bindparam("issuer_id"),
    SerialReservation.idempotency_key == bindparam("key"),
)
_BLOCKED = select(BlockedKey.spki_sha256).where(BlockedKey.spki_sha256 == bindparam("fp"))
_CERTIFIED = select(
    Certificate.subscriber_id,
    Certificate.profile,
    Certificate.status,
    Certificate.not_after,
    Certificate.serial_hex,
    Certificate.issuer_id,
).where(Certificate.spki_sha256 == bindparam("fp"))
_RESERVE = insert(SerialReservation)
_COMPLETE = (
    update(SerialReservation)
    .where(
        SerialReservation.issuer_id == bindparam("b_issuer"),
        SerialReservation.serial_hex == bindparam("b_serial"),
        # Only a reservation still waiting: a concurrent completion that got there first
        # leaves nothing to update.
        SerialReservation.state == "reserved",
    )
    # The certificate row written in the same transaction holds the DER: the reservation
    # keeps neither copy (issue 18: ~2 KB per certificate). recover() of a stored serial
    # reads the certificate row.
    .values(state="stored", certificate_der=None, tbs_der=None)
    .returning(
        SerialReservation.profile, SerialReservation.subscriber_id, SerialReservation.key_label
    )
)
_INSERT_CERTIFICATE = insert(Certificate)
_SUBSCRIBER_ISSUED = (
    update(Subscriber)
    .where(
        Subscriber.id == bindparam("b_id"),
        Subscriber.status.in_(("NEW", "RENEW", "EXPIRED")),
    )
    .values(status="ISSUE")
)
_CA_CERTIFICATE = (
    update(CertificateAuthority)
    .where(CertificateAuthority.id == bindparam("b_id"))
    .values(certificate_der=bindparam("b_der"), fingerprint_sha256=bindparam("b_fp"))
)


def ca_by_name(conn: Connection, name: str) -> CertificateAuthority | None:
    """The CA row as a detached (transient) object, or None."""
    row = conn.execute(_CA_BY_NAME, {"name": name}).one_or_none()
    return None if row is None else CertificateAuthority(**row._asdict())


def reserved_for_key(conn: Connection, issuer_id: int, idempotency_key: str) -> str | None:
    """The serial an earlier request with this idempotency key reserved, if any."""
    return conn.execute(
        _RESERVED_FOR_KEY, {"issuer_id": issuer_id, "key": idempotency_key}
    ).scalar_one_or_none()


def known_key(conn: Connection, spki_sha256: str) -> KnownKey:
    blocked = conn.execute(_BLOCKED, {"fp": spki_sha256}).first() is not None
    rows = conn.execute(_CERTIFIED, {"fp": spki_sha256}).all()
    return KnownKey(
        frozenset({spki_sha256}) if blocked else frozenset(),
        tuple((r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows),
    )


def reserve(conn: Connection, **values: object) -> None:
    """Insert a serial_reservations row (state ``reserved``) with ``values``."""
    conn.execute(_RESERVE, {"state": "reserved", **values})


def complete(
    conn: Connection, issuer_id: int, serial_hex: str
) -> tuple[str, int | None, str | None] | None:
    """Mark a waiting reservation stored and drop its TBS (the certificate row inserted in the
    same transaction takes over); its (profile, subscriber_id, key_label), or None."""
    row = conn.execute(_COMPLETE, {"b_issuer": issuer_id, "b_serial": serial_hex}).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


def insert_certificate(conn: Connection, **values: object) -> None:
    conn.execute(_INSERT_CERTIFICATE, values)


def mark_subscriber_issued(conn: Connection, subscriber_id: int) -> None:
    """A subscriber waiting for a certificate (NEW/RENEW/EXPIRED) now holds one (ISSUE)."""
    conn.execute(_SUBSCRIBER_ISSUED, {"b_id": subscriber_id})


def set_ca_certificate(conn: Connection, ca_id: int, der: bytes, fingerprint: str) -> None:
    conn.execute(_CA_CERTIFICATE, {"b_id": ca_id, "b_der": der, "b_fp": fingerprint})
