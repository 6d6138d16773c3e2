"""The counts behind ``psre report`` (ca_core.report), for a period [from, to)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from ca_core.store import ReadOnlyStore
from ca_core.store.models import AuditEvent, Certificate, Subscriber
from ca_core.store.sessions import read_session


@dataclass(frozen=True)
class PeriodEvent:
    """An audit event of the period, as the report reads it (details still JSON text)."""

    actor: str
    action: str
    object: str
    details: str


@dataclass(frozen=True)
class SubscriberAgency:
    key: str | None  # NIK or organizationIdentifier
    kind: str
    name: str
    agency: str | None


@dataclass(frozen=True)
class PeriodFigures:
    issued_by_profile: dict[str, int]
    #: Revocation reason (None when the row has none) -> n
    revoked_by_reason: dict[str | None, int]
    events: list[PeriodEvent]
    subscribers: list[SubscriberAgency]


def period_figures(
    store: ReadOnlyStore, start: dt.datetime, end: dt.datetime, actions: Iterable[str]
) -> PeriodFigures:
    """Certificates issued and revoked in [start, end) counted by the database, the audit
    events of ``actions`` in the period (in chain order) and every subscriber's agency, read
    in one snapshot."""
    c = Certificate
    with read_session(store) as s:
        issued = s.execute(
            select(c.profile, func.count())
            .where(c.created_at >= start, c.created_at < end)
            .group_by(c.profile)
        ).all()
        revoked = s.execute(
            select(c.revocation_reason, func.count())
            .where(c.status == "revoked", c.revoked_at >= start, c.revoked_at < end)
            .group_by(c.revocation_reason)
        ).all()
        events = s.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.object, AuditEvent.details)
            .where(
                AuditEvent.time >= start,
                AuditEvent.time < end,
                AuditEvent.action.in_(tuple(actions)),
            )
            .order_by(AuditEvent.seq)
        ).all()
        subscribers = s.execute(
            select(
                Subscriber.nik,
                Subscriber.organization_identifier,
                Subscriber.kind,
                Subscriber.name,
                Subscriber.agency,
            )
        ).all()
    return PeriodFigures(
        {profile: n for profile, n in issued},
        {reason: n for reason, n in revoked},
        [PeriodEvent(*e) for e in events],
        [
            SubscriberAgency(nik or org, kind, name, agency)
            for nik, org, kind, name, agency in subscribers
        ],
    )
