"""Failed activations and lockout, counted so that no client app can lock a signer out of the
others (issue 15; the NIK is public, so anyone holding client credentials can try one).

Two counters, both in the database (shared by workers, kept across restarts):

* per signer *and channel* (a client app, or the CLI) in ``activation_failures``:
  ``signing.max_failures`` consecutive failures lock that channel out for that signer only;
* per signer across every channel in ``subscribers.failed_attempts``: the sum of the channels'
  live counts; the higher ``signing.max_failures_signer`` locks the signer everywhere, and the
  signer is told through the notifier (someone is guessing; the audit log says which app).

Both locks last ``signing.lockout_minutes``, and a count starts afresh when its lock runs out. A
success through a channel clears that channel's count (other apps' stay: they may be the ones
guessing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import and_, delete, func, select, update

from ca_core import audit_objects
from ca_core.config import SigningConfig
from ca_core.notifier import Notifier
from ca_core.store import Store
from ca_core.store.models import ActivationFailure, Subscriber
from signing_api.esign_errors import NOT_REGISTERED, WRONG_ACTIVATION, EsignError


@dataclass(frozen=True)
class Channel:
    """Where activation attempts come from: ``key`` counts them, ``actor`` audits them."""

    key: str
    actor: str


def client_channel(client_id: int, username: str) -> Channel:
    return Channel(f"client:{client_id}", f"client:{username}")


def subject_key(sub: Subscriber) -> str:
    """How audit events name a subscriber."""
    return audit_objects.subscriber_record(sub.nik, sub.organization_identifier)


def locked_until(
    store: Store, sub_id: int, channel_key: str | None, now: dt.datetime
) -> dt.datetime | None:
    """When the lock on ``sub_id`` (signer-wide, or this channel's) runs out; None if unlocked."""
    return _state(store, sub_id, channel_key, now)[1]


def _state(
    store: Store, sub_id: int, channel_key: str | None, now: dt.datetime
) -> tuple[Subscriber | None, dt.datetime | None, int]:
    """The subscriber's row, the live lock if any, and the channel's failure count."""
    from signing_api.activation import reading

    # One query (the signer's row joined to this channel's counter): it runs twice per request.
    stmt = select(Subscriber, ActivationFailure).where(Subscriber.id == sub_id)
    stmt = stmt.outerjoin(
        ActivationFailure,
        and_(
            ActivationFailure.subscriber_id == Subscriber.id,
            ActivationFailure.channel == (channel_key or ""),
        ),
    )
    with reading(store) as s:
        found = s.execute(stmt).first()
    if found is None:
        return None, None, 0
    row, mine = found
    locks = [x.locked_until for x in (row, mine) if x is not None]
    live = [t for t in locks if t is not None and t > now]
    return row, (max(live) if live else None), (mine.failed_attempts if mine else 0)


class Lockout:
    def __init__(
        self, store: Store, cfg: SigningConfig, channel: Channel, notifier: Notifier | None
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.channel = channel
        self.notifier = notifier

    def refuse_if_locked(self, sub: Subscriber, now: dt.datetime) -> tuple[Subscriber, bool]:
        """The subscriber's current row (counters, hash), unless locked for this channel; and
        whether a success must clear failure counts."""
        row, until, mine = _state(self.store, sub.id, self.channel.key, now)
        if row is None:
            raise EsignError(NOT_REGISTERED, "pengguna tidak terdaftar (signer not registered)")
        if until is not None:
            raise locked_error(until, now)
        return row, bool(mine)

    def failed(self, sub: Subscriber, method: str, now: dt.datetime) -> NoReturn:
        lock = dt.timedelta(minutes=self.cfg.lockout_minutes)
        with self.store.session() as s:
            # The signer's row first, FOR UPDATE: concurrent failures of one signer queue here,
            # so both counts are exact and the channel row is created once.
            row = s.execute(
                select(Subscriber).where(Subscriber.id == sub.id).with_for_update()
            ).scalar_one()
            counters = list(
                s.execute(
                    select(ActivationFailure).where(ActivationFailure.subscriber_id == sub.id)
                ).scalars()
            )
            # A lock that ran out starts its count afresh; the signer-wide one, every count.
            signer_ran_out = row.locked_until is not None and row.locked_until <= now
            if signer_ran_out:
                row.locked_until = None
            for c in counters:
                if signer_ran_out or (c.locked_until is not None and c.locked_until <= now):
                    c.failed_attempts, c.locked_until = 0, None
            mine = next((c for c in counters if c.channel == self.channel.key), None)
            if mine is None:
                mine = ActivationFailure(
                    subscriber_id=sub.id, channel=self.channel.key, failed_attempts=0
                )
                s.add(mine)
                counters.append(mine)
            if mine.locked_until is None:
                # (A guess checked while a concurrent one locked this channel is refused all the
                # same, and audited, but not counted: a channel's count stops at the limit.)
                mine.failed_attempts += 1
            # The signer-wide count is the sum of the channels' live counts: a channel stops
            # counting once it is locked out and restarts from 0 when its lock runs out, so one
            # app alone, however patient, never reaches signing.max_failures_signer.
            row.failed_attempts = sum(c.failed_attempts for c in counters)
            channel_locked = mine.failed_attempts >= self.cfg.max_failures
            signer_locked = row.failed_attempts >= self.cfg.max_failures_signer
            newly_signer_locked = signer_locked and row.locked_until is None
            newly_locked = newly_signer_locked or (channel_locked and mine.locked_until is None)
            if channel_locked and mine.locked_until is None:
                mine.locked_until = now + lock
            if newly_signer_locked:
                row.locked_until = now + lock
            attempts = mine.failed_attempts
            self.store.audit.append(
                self.channel.actor,
                "sign.activation_failed",
                subject_key(sub),
                {
                    "method": method,
                    "attempts": attempts,
                    "locked": channel_locked or signer_locked,
                    "signer_attempts": row.failed_attempts,
                    "signer_locked": signer_locked,
                },
                session=s,
            )
            untils = [t for t in (mine.locked_until, row.locked_until) if t is not None]
            email, signer_until = row.email, row.locked_until
        if newly_locked:
            from ca_core.metrics import LOCKOUTS

            LOCKOUTS.labels("signer").inc()
        if newly_signer_locked and self.notifier is not None and signer_until is not None:
            self._tell_signer(email, signer_until)
        if untils:
            raise locked_error(max(untils), now)
        left = min(
            self.cfg.max_failures - attempts,
            self.cfg.max_failures_signer - row.failed_attempts,
        )
        raise EsignError(
            WRONG_ACTIVATION,
            f"Passphrase anda salah (wrong {method}); {left} attempt(s) left before lockout",
            attempts_left=left,
        )

    def _tell_signer(self, email: str, until: dt.datetime) -> None:
        assert self.notifier is not None
        self.notifier.send(
            email,
            "Akun tanda tangan elektronik Anda dikunci",
            f"Terlalu banyak passphrase/TOTP salah untuk akun Anda; penandatanganan dikunci "
            f"sampai {until:%Y-%m-%d %H:%M} UTC.\n"
            "Jika bukan Anda yang mencoba, hubungi RA PSrE: seseorang mencoba memakai akun "
            "Anda.\n\n"
            f"Too many wrong passphrases/codes for your account: signing is locked until "
            f"{until:%Y-%m-%d %H:%M} UTC. If this was not you, contact the PSrE's RA.",
        )

    def succeeded(self, sub: Subscriber) -> None:
        with self.store.session() as s:
            s.execute(
                delete(ActivationFailure).where(
                    ActivationFailure.subscriber_id == sub.id,
                    ActivationFailure.channel == self.channel.key,
                )
            )
            others = select(func.coalesce(func.sum(ActivationFailure.failed_attempts), 0)).where(
                ActivationFailure.subscriber_id == sub.id
            )
            s.execute(
                update(Subscriber)
                .where(Subscriber.id == sub.id)
                .values(failed_attempts=others.scalar_subquery(), locked_until=None)
            )


def clear(store: Store, sub_id: int, session: object) -> None:
    """Forget every count and lock of ``sub_id`` (a new passphrase was set)."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    session.execute(delete(ActivationFailure).where(ActivationFailure.subscriber_id == sub_id))
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == sub_id)
        .values(failed_attempts=0, locked_until=None)
    )


def locked_error(until: dt.datetime, now: dt.datetime) -> EsignError:
    seconds = max(1, int((until - now).total_seconds()))
    return EsignError(
        WRONG_ACTIVATION,
        "akun terkunci (signer locked after repeated wrong passphrases/TOTPs)",
        status=423,
        locked=True,
        locked_until=until.isoformat(),
        retry_after=seconds,
    )
