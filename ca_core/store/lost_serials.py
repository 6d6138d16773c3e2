"""Serials a restore found published but no longer in the database (table ``lost_serials``,
written by ca_core.restore_reconcile): the CRL builder lists them as revoked for as long as the
CA publishes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import select

from ca_core.store import ReadOnlyStore
from ca_core.store.models import LostSerial


def lost_serial_rows(
    store: ReadOnlyStore, issuer_id: int
) -> Iterator[tuple[str, dt.datetime, str | None, dt.datetime | None, dt.datetime]]:
    """CRL rows (serial_hex, revoked_at, reason, invalidity, not_after) of serials lost with a
    restore, times naive UTC as crl.publish wants them. Their notAfter is unknown: listed for
    as long as the CA publishes CRLs."""
    with store.reading() as conn:
        rows = conn.execute(
            select(LostSerial.serial_hex, LostSerial.revoked_at, LostSerial.revocation_reason)
            .where(LostSerial.issuer_id == issuer_id)
            .order_by(LostSerial.id)
        ).all()
    for sh, revoked_at, reason in rows:
        yield sh, revoked_at.replace(tzinfo=None), reason, None, dt.datetime.max
