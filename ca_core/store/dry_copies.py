"""Copies of real rows into a ceremony dry run's scratch database (ceremony_scripts.runner), so
that a step changing a certificate or a recognized CA changes a copy of it."""

from __future__ import annotations

from sqlalchemy import select

from ca_core.store import Store
from ca_core.store.models import Certificate, RecognizedCa


def _columns(row: Certificate | RecognizedCa, leave_out: tuple[str, ...]) -> dict[str, object]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in leave_out}


def copy_certificate(scratch: Store, cert: Certificate, issuer_id: int) -> bool:
    """Copy ``cert`` (a row of the real store) under ``issuer_id`` of ``scratch``, without its
    subscriber; False when scratch has that serial already."""
    with scratch.session() as s:
        if s.scalar(
            select(Certificate.id).where(
                Certificate.issuer_id == issuer_id, Certificate.serial_hex == cert.serial_hex
            )
        ):
            return False
        copy = _columns(cert, ("id", "issuer_id", "subscriber_id"))
        s.add(Certificate(issuer_id=issuer_id, **copy))
    return True


def copy_recognized(
    scratch: Store, recognized: RecognizedCa, cert: Certificate, issuer_id: int
) -> None:
    """Copy a recognized CA and its certificate row under ``issuer_id`` of ``scratch``."""
    with scratch.session() as s:
        copy = _columns(cert, ("id", "issuer_id", "subscriber_id"))
        s.add(Certificate(issuer_id=issuer_id, **copy))
        fields = _columns(recognized, ("id", "issuer_id"))
        s.add(RecognizedCa(issuer_id=issuer_id, **fields))
