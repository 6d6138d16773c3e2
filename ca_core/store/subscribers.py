"""Subscribers' rows (ca_core.subscribers decides what happens to them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import Certificate, Subscriber

_BY_ORG_ID = select(*Subscriber.__table__.columns).where(
    Subscriber.organization_identifier == bindparam("org")
)


class SubscriberReads:
    def __init__(self, store: ReadOnlyStore) -> None:
        self._store = store

    def by_organization_identifier(self, org_id: str) -> Subscriber | None:
        """An agency by its organizationIdentifier (a detached row), or None."""
        with self._store.reading() as conn:
            row = conn.execute(_BY_ORG_ID, {"org": org_id}).first()
        return None if row is None else Subscriber(**row._asdict())

    def unrevoked_serials(self, subscriber_id: int, profile: str) -> list[str]:
        """Serials of the subscriber's certificates of ``profile`` that are not revoked."""
        stmt = select(Certificate.serial_hex).where(
            Certificate.subscriber_id == subscriber_id,
            Certificate.profile == profile,
            Certificate.status != "revoked",
        )
        with self._store.reading() as conn:
            return list(conn.execute(stmt).scalars())

    def run_out(self, now: dt.datetime) -> list[tuple[str | None, str | None]]:
        """(NIK, organizationIdentifier) of subscribers holding a certificate (ISSUE or
        SUSPEND) whose every unrevoked certificate has run out at ``now``."""
        live = select(Certificate.id).where(
            Certificate.subscriber_id == Subscriber.id,
            Certificate.status != "revoked",
            Certificate.not_after >= now,
        )
        stmt = select(Subscriber.nik, Subscriber.organization_identifier).where(
            Subscriber.status.in_(("ISSUE", "SUSPEND")), ~live.exists()
        )
        with self._store.reading() as conn:
            return [(nik, org) for nik, org in conn.execute(stmt)]


class Subscribers:
    def __init__(self, store: Store) -> None:
        self._store = store

    def set_status(self, subscriber_id: int, status: str, *, actor: str, obj: str) -> str:
        """Give the subscriber e-sign status ``status``, audited (``subscriber.status`` on
        ``obj``) in the same transaction; returns the status before."""
        with self._store.session() as s:
            row = s.get(Subscriber, subscriber_id)
            if row is None:
                raise LookupError(f"no subscriber {subscriber_id}")
            old = row.status
            row.status = status
            self._store.audit.append(
                actor, "subscriber.status", obj, {"from": old, "to": status}, session=s
            )
        return old
