"""The issuance pipeline's database side (ca_core.issuer decides, this module stores).

Issuing a certificate runs about ten statements. Building a SQLAlchemy statement and computing
its cache key on every call cost more CPU than executing it, and the ORM's unit of work more
again, so the hot path runs these prepared Core statements, built once, on a plain Connection
with bound parameters. :class:`IssuanceRecords` runs each step's statements in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from ca_core.store import Store
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
    # keeps neither copy (issue 18: ~2 KB per certificate). A stored serial's recovery reads
    # the certificate row.
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


@dataclass(frozen=True)
class Reservation:
    """A reserved serial as ``recover`` needs it: its state, TBS and profile, the issuing CA,
    and the certificate when it was stored."""

    state: str
    tbs_der: bytes | None
    profile: str
    ca: CertificateAuthority
    stored_der: bytes | None


_RESERVATION = select(
    SerialReservation.state, SerialReservation.tbs_der, SerialReservation.profile
).where(
    SerialReservation.issuer_id == bindparam("issuer_id"),
    SerialReservation.serial_hex == bindparam("serial"),
)
_CA_BY_ID = select(*_CA_COLUMNS).where(CertificateAuthority.id == bindparam("ca_id"))
_STORED_DER = select(Certificate.der).where(
    Certificate.issuer_id == bindparam("issuer_id"), Certificate.serial_hex == bindparam("serial")
)


class IssuanceRecords:
    """The issuance steps' transactions on the read-write store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def ca(self, name: str) -> CertificateAuthority | None:
        """The CA row as a detached (transient) object, or None."""
        with self._store.reading() as conn:
            return ca_by_name(conn, name)

    def reserved_for_key(self, issuer_id: int, idempotency_key: str) -> str | None:
        """The serial an earlier request with this idempotency key reserved, if any."""
        with self._store.reading() as conn:
            return reserved_for_key(conn, issuer_id, idempotency_key)

    def reserve(
        self,
        *,
        issuer_id: int,
        idempotency_key: str | None,
        spki_sha256: str,
        check: Callable[[KnownKey], None],
        **values: object,
    ) -> str | None:
        """Check the key (``check`` raises to refuse) and reserve the serial, in one write
        transaction, so two requests for one key cannot both pass the check. Returns the
        serial another request with the same idempotency key reserved first, else None."""
        with self._store.writing() as conn:
            if idempotency_key:
                earlier = reserved_for_key(conn, issuer_id, idempotency_key)
                if earlier is not None:
                    return earlier
            check(known_key(conn, spki_sha256))
            reserve(conn, issuer_id=issuer_id, idempotency_key=idempotency_key, **values)
        return None

    def store_signed(
        self,
        ca: CertificateAuthority,
        serial_hex: str,
        der: bytes,
        fingerprint: str,
        certificate: Mapping[str, object],
        audit: Callable[[str], tuple[str, str, str, Mapping[str, Any]]],
    ) -> str | None:
        """Store a signed certificate, completing its reservation, with its audit event, in
        one transaction; returns its profile, or None when the serial is not reserved (or was
        stored meanwhile). ``certificate`` holds the certificates row's values but the
        reservation's; ``audit(profile)`` gives (actor, action, object, details)."""
        with self._store.writing() as conn:
            done = complete(conn, ca.id, serial_hex)
            if done is None:
                return None
            profile, subscriber_id, key_label = done
            if ca.certificate_der is None:
                set_ca_certificate(conn, ca.id, der, fingerprint)  # the CA's own self-signed
            insert_certificate(
                conn,
                issuer_id=ca.id,
                serial_hex=serial_hex,
                der=der,
                fingerprint_sha256=fingerprint,
                profile=profile,
                subscriber_id=subscriber_id,
                key_label=key_label,
                **certificate,
            )
            if subscriber_id is not None:
                mark_subscriber_issued(conn, subscriber_id)
            actor, action, obj, details = audit(profile)
            self._store.audit.append(actor, action, obj, details, session=conn)
        return profile

    def reservation(self, issuer_id: int, serial_hex: str) -> Reservation | None:
        """The reservation of ``serial_hex`` under ``issuer_id``, or None."""
        params = {"issuer_id": issuer_id, "serial": serial_hex}
        with self._store.reading() as conn:
            r = conn.execute(_RESERVATION, params).one_or_none()
            if r is None:
                return None
            row = conn.execute(_CA_BY_ID, {"ca_id": issuer_id}).one()
            stored = conn.execute(_STORED_DER, params).scalar() if r.state == "stored" else None
        ca = CertificateAuthority(**row._asdict())
        return Reservation(r.state, r.tbs_der, r.profile, ca, stored)
