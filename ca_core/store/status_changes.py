"""The feed of certificate status changes (table ``status_changes``).

Every revocation, suspension and release writes one row in the transaction that changes the
certificate (``record``), so the feed holds exactly the committed changes. Readers in other
processes (CRL publication, OCSP pre-signing) follow it by cursor (``since``/``latest``) or by
time, instead of matching audit object strings.

Cursor order is commit order: ``record`` runs after the transaction's audit append, which holds
the audit head row (PostgreSQL ``FOR UPDATE``; SQLite's single writer) until commit, so no
transaction can take a smaller id and commit later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import Session

from ca_core.store import ReadOnlyStore
from ca_core.store.models import StatusChange

_INSERT = insert(StatusChange)


@dataclass(frozen=True)
class StatusChangeRecord:
    """One change: ``status`` is the certificate's status after it (``good`` = released)."""

    id: int
    issuer_id: int
    serial_hex: str
    status: str
    reason: str | None
    revoked_at: datetime | None
    changed_at: datetime
    actor: str


def record(
    tx: Session | Connection,
    *,
    issuer_id: int,
    serial_hex: str,
    status: str,
    reason: str | None,
    revoked_at: datetime | None,
    changed_at: datetime,
    actor: str,
) -> None:
    """Append a change in the caller's transaction (call it after the audit append)."""
    tx.execute(
        _INSERT,
        {
            "issuer_id": issuer_id,
            "serial_hex": serial_hex,
            "status": status,
            "reason": reason,
            "revoked_at": revoked_at,
            "changed_at": changed_at,
            "actor": actor,
        },
    )


_COLUMNS = (
    StatusChange.id,
    StatusChange.issuer_id,
    StatusChange.serial_hex,
    StatusChange.status,
    StatusChange.reason,
    StatusChange.revoked_at,
    StatusChange.changed_at,
    StatusChange.actor,
)


class StatusChangeReads:
    """Reading the feed (a read-only face is enough)."""

    def __init__(self, store: ReadOnlyStore) -> None:
        self._store = store

    def since(self, cursor: int, limit: int = 1000) -> list[StatusChangeRecord]:
        """Changes after ``cursor`` (an id; 0 for the beginning), oldest first, at most
        ``limit``. The last one's id is the cursor for the next call."""
        stmt = (
            select(*_COLUMNS).where(StatusChange.id > cursor).order_by(StatusChange.id).limit(limit)
        )
        with self._store.reading() as conn:
            return [StatusChangeRecord(*row) for row in conn.execute(stmt)]

    def latest(self) -> int:
        """The cursor of the newest change (0 when there is none): start following here."""
        with self._store.reading() as conn:
            return int(
                conn.execute(select(func.coalesce(func.max(StatusChange.id), 0))).scalar_one()
            )

    def serials_changed_since(self, issuer_id: int, since: datetime) -> set[str]:
        """Serials of CA ``issuer_id`` revoked, held or released at or after ``since``."""
        stmt = select(StatusChange.serial_hex).where(
            StatusChange.issuer_id == issuer_id, StatusChange.changed_at >= since
        )
        with self._store.reading() as conn:
            return set(conn.execute(stmt).scalars())

    def releases_since(self, issuer_id: int, since: datetime) -> dict[str, datetime]:
        """Holds of CA ``issuer_id`` released at or after ``since``: serial → release time
        (whole seconds, as CRLs state times)."""
        stmt = (
            select(StatusChange.serial_hex, StatusChange.changed_at)
            .where(
                StatusChange.issuer_id == issuer_id,
                StatusChange.status == "good",
                StatusChange.changed_at >= since,
            )
            .order_by(StatusChange.id)
        )
        with self._store.reading() as conn:
            return {sh: when.replace(microsecond=0) for sh, when in conn.execute(stmt)}
