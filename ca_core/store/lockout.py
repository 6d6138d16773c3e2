"""Failed activations per signer and channel, and the locks they set (signing_api.lockout
holds the policy's meaning; here are its counters).

Two counters: per signer *and channel* in ``activation_failures``, and per signer across
channels in ``subscribers.failed_attempts`` (the sum of the channels' live counts). Counting a
failure is one transaction with its audit event: the signer's row is locked first, so
concurrent failures of one signer queue and both counts stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import ActivationFailure, Subscriber
from ca_core.store.repo import read_session


@dataclass(frozen=True)
class LockState:
    """The signer's row (None if there is no such signer), the live lock on them for the
    channel asked about (signer-wide or the channel's own), and the channel's failure count."""

    subscriber: Subscriber | None
    locked_until: datetime | None
    channel_failures: int


@dataclass(frozen=True)
class FailurePolicy:
    """``max_failures`` locks a channel, ``max_failures_signer`` the signer, for ``lock``."""

    max_failures: int
    max_failures_signer: int
    lock: timedelta


@dataclass(frozen=True)
class FailureCount:
    """The counters after one more failure, and what it locked."""

    attempts: int
    signer_attempts: int
    channel_locked: bool
    signer_locked: bool
    #: This failure set a lock (the channel's or the signer's) that was not there before.
    newly_locked: bool
    newly_signer_locked: bool
    #: The latest of the live locks after this failure; None if the signer may still try.
    locked_until: datetime | None
    signer_locked_until: datetime | None
    email: str


class LockoutReads:
    def __init__(self, store: ReadOnlyStore) -> None:
        self._store = store

    def state(self, subscriber_id: int, channel_key: str | None, now: datetime) -> LockState:
        """Where ``subscriber_id`` stands for ``channel_key`` (None: signer-wide only) at
        ``now``."""
        # One query (the signer's row joined to this channel's counter): it runs twice per
        # request.
        stmt = (
            select(Subscriber, ActivationFailure)
            .where(Subscriber.id == subscriber_id)
            .outerjoin(
                ActivationFailure,
                and_(
                    ActivationFailure.subscriber_id == Subscriber.id,
                    ActivationFailure.channel == (channel_key or ""),
                ),
            )
        )
        with read_session(self._store) as s:
            found = s.execute(stmt).first()
        if found is None:
            return LockState(None, None, 0)
        row, mine = found
        locks = [x.locked_until for x in (row, mine) if x is not None]
        live = [t for t in locks if t is not None and t > now]
        return LockState(row, max(live) if live else None, mine.failed_attempts if mine else 0)


class Lockouts:
    def __init__(self, store: Store) -> None:
        self._store = store

    def count_failure(
        self,
        subscriber_id: int,
        channel_key: str,
        now: datetime,
        policy: FailurePolicy,
        *,
        actor: str,
        subject: str,
        method: str,
    ) -> FailureCount:
        """Count one failed activation through ``channel_key``, lock what reached its limit,
        and audit it (``sign.activation_failed``), all in one transaction."""
        with self._store.session() as s:
            # The signer's row first, FOR UPDATE: concurrent failures of one signer queue here,
            # so both counts are exact and the channel row is created once.
            row = s.execute(
                select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()
            ).scalar_one()
            counters = list(
                s.execute(
                    select(ActivationFailure).where(
                        ActivationFailure.subscriber_id == subscriber_id
                    )
                ).scalars()
            )
            count = _one_more_failure(s, row, counters, channel_key, now, policy)
            self._store.audit.append(
                actor,
                "sign.activation_failed",
                subject,
                {
                    "method": method,
                    "attempts": count.attempts,
                    "locked": count.channel_locked or count.signer_locked,
                    "signer_attempts": count.signer_attempts,
                    "signer_locked": count.signer_locked,
                },
                session=s,
            )
            return count

    def clear_channel(self, subscriber_id: int, channel_key: str) -> None:
        """A success through ``channel_key``: its count goes, the signer-wide count becomes the
        sum of the other channels' and the signer-wide lock is lifted."""
        others = select(func.coalesce(func.sum(ActivationFailure.failed_attempts), 0)).where(
            ActivationFailure.subscriber_id == subscriber_id
        )
        with self._store.session() as s:
            s.execute(
                delete(ActivationFailure).where(
                    ActivationFailure.subscriber_id == subscriber_id,
                    ActivationFailure.channel == channel_key,
                )
            )
            s.execute(
                update(Subscriber)
                .where(Subscriber.id == subscriber_id)
                .values(failed_attempts=others.scalar_subquery(), locked_until=None)
            )


def _one_more_failure(
    session: Session,
    row: Subscriber,
    counters: list[ActivationFailure],
    channel_key: str,
    now: datetime,
    policy: FailurePolicy,
) -> FailureCount:
    """Count a failure on the locked signer ``row`` and its channels' ``counters``."""
    # A lock that ran out starts its count afresh; the signer-wide one, every count.
    signer_ran_out = row.locked_until is not None and row.locked_until <= now
    if signer_ran_out:
        row.locked_until = None
    for c in counters:
        if signer_ran_out or (c.locked_until is not None and c.locked_until <= now):
            c.failed_attempts, c.locked_until = 0, None
    mine = next((c for c in counters if c.channel == channel_key), None)
    if mine is None:
        mine = ActivationFailure(subscriber_id=row.id, channel=channel_key, failed_attempts=0)
        session.add(mine)
        counters.append(mine)
    if mine.locked_until is None:
        # (A guess checked while a concurrent one locked this channel is refused all the same,
        # and audited, but not counted: a channel's count stops at the limit.)
        mine.failed_attempts += 1
    # The signer-wide count is the sum of the channels' live counts: a channel stops counting
    # once it is locked out and restarts from 0 when its lock runs out, so one app alone,
    # however patient, never reaches max_failures_signer.
    row.failed_attempts = sum(c.failed_attempts for c in counters)
    channel_locked = mine.failed_attempts >= policy.max_failures
    signer_locked = row.failed_attempts >= policy.max_failures_signer
    newly_signer_locked = signer_locked and row.locked_until is None
    newly_locked = newly_signer_locked or (channel_locked and mine.locked_until is None)
    if channel_locked and mine.locked_until is None:
        mine.locked_until = now + policy.lock
    if newly_signer_locked:
        row.locked_until = now + policy.lock
    untils = [t for t in (mine.locked_until, row.locked_until) if t is not None]
    return FailureCount(
        attempts=mine.failed_attempts,
        signer_attempts=row.failed_attempts,
        channel_locked=channel_locked,
        signer_locked=signer_locked,
        newly_locked=newly_locked,
        newly_signer_locked=newly_signer_locked,
        locked_until=max(untils) if untils else None,
        signer_locked_until=row.locked_until,
        email=row.email,
    )


def forget_failures(session: Session, subscriber_id: int) -> None:
    """Forget every count and lock of ``subscriber_id`` in the caller's transaction (for the
    repositories that set a new passphrase)."""
    session.execute(
        delete(ActivationFailure).where(ActivationFailure.subscriber_id == subscriber_id)
    )
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(failed_attempts=0, locked_until=None)
    )
