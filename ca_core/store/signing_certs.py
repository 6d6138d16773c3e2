"""Certificates whose key in the HSM signs: a signer's, a seal's, a time-stamping unit's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select

from ca_core.store import ReadOnlyStore
from ca_core.store.models import Certificate


def newest_for_subscriber(
    store: ReadOnlyStore, subscriber_id: int, now: datetime, *, profile: str | None = None
) -> Certificate | None:
    """The subscriber's newest good certificate valid at ``now`` with its key in the HSM (of
    ``profile`` when given)."""
    condition: ColumnElement[bool] = Certificate.subscriber_id == subscriber_id
    if profile is not None:
        condition = and_(condition, Certificate.profile == profile)
    return store.newest_usable_certificate(condition, now)


def newest_with_profile(
    store: ReadOnlyStore, profiles: Iterable[str], now: datetime
) -> Certificate | None:
    """The newest good certificate of one of ``profiles`` valid at ``now``, key in the HSM."""
    return store.newest_usable_certificate(Certificate.profile.in_(tuple(profiles)), now)


@dataclass(frozen=True)
class Standing:
    """A certificate's status and end of validity, read fresh."""

    status: str
    not_after: datetime


def standing(store: ReadOnlyStore, certificate_id: int) -> Standing | None:
    """Status and ``not_after`` of certificate ``certificate_id``; None if there is none.

    A Core query: it runs on every time-stamp token (the ORM would cost more than the query).
    """
    stmt = select(Certificate.status, Certificate.not_after).where(Certificate.id == certificate_id)
    with store.reading() as conn:
        row = conn.execute(stmt).first()
    return None if row is None else Standing(row.status, row.not_after)
