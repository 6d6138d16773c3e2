"""What a serial's status is: decided here, once, for OCSP, CRLs' callers, the CLI and the API.

:func:`decide_status` takes what the database holds about one serial — its certificate row, a
serial lost with a restore, a serial reservation — and says ``good``, ``revoked``, ``hold`` or
``never_issued``. ``ReadOnlyStore.certificate_status`` looks those up and asks it for one
serial; :func:`decide_statuses` is the same rule over many serials, and :func:`statuses_of` and
:func:`uncertified_statuses` read the rows for it in batches (OCSP pre-signing, its follower of
the status feed, the check before a pre-signed response is stored), so the per-serial answer
and the batch answer cannot disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, exists, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ca_core.store.models import Certificate, LostSerial, SerialReservation

#: Serials per statement when reading rows for a list of serials (bound parameters: SQLite
#: allows 32766 in one statement, PostgreSQL 65535).
_CHUNK = 1000


@dataclass(frozen=True)
class CertStatus:
    """What the store says about one serial: ``good``, ``revoked``, ``hold`` or
    ``never_issued``, and (not compared) which record decided it: ``certificate``, ``lost``
    (issued after a restored backup), ``reservation`` or ``none``."""

    status: str
    revoked_at: datetime | None = None
    reason: str | None = None
    source: str = field(default="certificate", compare=False)


def decide_status(
    certificate: tuple[str, datetime | None, str | None] | None,
    lost: tuple[datetime, str | None] | None,
    reservation_state: str | None,
) -> CertStatus:
    """The status of a serial from its certificate row's (status, revoked_at, reason), its
    lost-serial row's (revoked_at, reason) and its reservation's state (None: no such row).

    A serial with a reservation that is not abandoned counts as issued (a crash between the
    HSM signature and the database write leaves only the reservation; checklist "never
    unknown"), and its certificate has not been revoked, since revoking first completes the
    reservation. A serial issued after the backup a restore came from
    (ca_core.restore_reconcile) is revoked, as the CRLs list it, rather than never issued.
    """
    if certificate is not None:
        return CertStatus(*certificate, source="certificate")
    if lost is not None:
        return CertStatus("revoked", lost[0], lost[1] or "unspecified", source="lost")
    if reservation_state is not None and reservation_state != "abandoned":
        return CertStatus("good", source="reservation")
    return CertStatus("never_issued", source="none")


def decide_statuses(
    certificates: Mapping[str, tuple[str, datetime | None, str | None]],
    lost: Mapping[str, tuple[datetime, str | None]],
    reservations: Mapping[str, str],
) -> dict[str, CertStatus]:
    """:func:`decide_status` for every serial any of the three mappings (serial -> that row's
    values, as :func:`decide_status` takes them) names."""
    serials = certificates.keys() | lost.keys() | reservations.keys()
    return {
        sh: decide_status(certificates.get(sh), lost.get(sh), reservations.get(sh))
        for sh in serials
    }


def statuses_of(
    conn: Session | Connection, issuer_id: int, serials: Collection[str]
) -> dict[str, CertStatus]:
    """The status of each of ``serials`` (normalised serial_hex) under ``issuer_id``, read in
    the caller's transaction; a serial no table names is ``never_issued``."""
    wanted = sorted(set(serials))
    certificates: dict[str, tuple[str, datetime | None, str | None]] = {}
    lost: dict[str, tuple[datetime, str | None]] = {}
    reservations: dict[str, str] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        for sh, st, at, reason in conn.execute(
            select(
                Certificate.serial_hex,
                Certificate.status,
                Certificate.revoked_at,
                Certificate.revocation_reason,
            ).where(Certificate.issuer_id == issuer_id, Certificate.serial_hex.in_(chunk))
        ):
            certificates[sh] = (st, at, reason)
        for sh, at, reason in conn.execute(
            select(
                LostSerial.serial_hex, LostSerial.revoked_at, LostSerial.revocation_reason
            ).where(LostSerial.issuer_id == issuer_id, LostSerial.serial_hex.in_(chunk))
        ):
            lost[sh] = (at, reason)
        for sh, state in conn.execute(
            select(SerialReservation.serial_hex, SerialReservation.state).where(
                SerialReservation.issuer_id == issuer_id, SerialReservation.serial_hex.in_(chunk)
            )
        ):
            reservations[sh] = state
    decided = decide_statuses(certificates, lost, reservations)
    return {sh: decided.get(sh) or decide_status(None, None, None) for sh in wanted}


def uncertified_statuses(conn: Session | Connection, issuer_id: int) -> dict[str, CertStatus]:
    """Every serial of ``issuer_id`` that a lost-serial row or a serial reservation names but
    no certificate row does, with its status (``never_issued`` included: an abandoned
    reservation). What OCSP pre-signing adds to the certificates it signs for: serials
    reserved and maybe signed but never stored (a crash between the HSM signature and the
    database write) and serials lost in a restore.

    Reservations in state ``stored`` are not read: one is completed in the transaction that
    writes its certificate row (ca_core.store.issuance), so it always has one, and skipping
    them keeps this off the table's millions of completed rows. For any other serial the
    answer is :func:`decide_status`'s, as for the per-serial look-up."""

    def no_certificate(serial: InstrumentedAttribute[str]) -> ColumnElement[bool]:
        return ~exists().where(Certificate.issuer_id == issuer_id, Certificate.serial_hex == serial)

    lost = {
        sh: (at, reason)
        for sh, at, reason in conn.execute(
            select(
                LostSerial.serial_hex, LostSerial.revoked_at, LostSerial.revocation_reason
            ).where(LostSerial.issuer_id == issuer_id, no_certificate(LostSerial.serial_hex))
        )
    }
    reservations: dict[str, str] = {
        sh: state
        for sh, state in conn.execute(
            select(SerialReservation.serial_hex, SerialReservation.state).where(
                SerialReservation.issuer_id == issuer_id,
                SerialReservation.state != "stored",
                no_certificate(SerialReservation.serial_hex),
            )
        )
    }
    return decide_statuses({}, lost, reservations)
