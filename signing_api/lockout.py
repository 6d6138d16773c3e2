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

from ca_core import audit_objects
from ca_core.config import SigningConfig
from ca_core.notifier import Notifier
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.lockout import FailurePolicy, LockoutReads, Lockouts, LockState
from ca_core.store.models import Subscriber
from signing_api.esign_errors import NOT_REGISTERED, WRONG_ACTIVATION, EsignError


@dataclass(frozen=True)
class Channel:
    """Where activation attempts come from: ``key`` counts them, ``actor`` audits them."""

    key: str
    actor: str


def client_channel(client_id: int, username: str) -> Channel:
    return Channel(f"client:{client_id}", audit_objects.client(username))


def subject_key(sub: Subscriber) -> str:
    """How audit events name a subscriber."""
    return audit_objects.subscriber_record(sub.nik, sub.organization_identifier)


def locked_until(
    store: ReadOnlyStore, sub_id: int, channel_key: str | None, now: dt.datetime
) -> dt.datetime | None:
    """When the lock on ``sub_id`` (signer-wide, or this channel's) runs out; None if unlocked."""
    return _state(store, sub_id, channel_key, now).locked_until


def _state(
    store: ReadOnlyStore, sub_id: int, channel_key: str | None, now: dt.datetime
) -> LockState:
    """The subscriber's row, the live lock if any, and the channel's failure count."""
    return LockoutReads(store).state(sub_id, channel_key, now)


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
        state = _state(self.store, sub.id, self.channel.key, now)
        if state.subscriber is None:
            raise EsignError(NOT_REGISTERED, "pengguna tidak terdaftar (signer not registered)")
        if state.locked_until is not None:
            raise locked_error(state.locked_until, now)
        return state.subscriber, bool(state.channel_failures)

    def failed(self, sub: Subscriber, method: str, now: dt.datetime) -> NoReturn:
        policy = FailurePolicy(
            self.cfg.max_failures,
            self.cfg.max_failures_signer,
            dt.timedelta(minutes=self.cfg.lockout_minutes),
        )
        count = Lockouts(self.store).count_failure(
            sub.id,
            self.channel.key,
            now,
            policy,
            actor=self.channel.actor,
            subject=subject_key(sub),
            method=method,
        )
        if count.newly_locked:
            from ca_core.metrics import LOCKOUTS

            LOCKOUTS.labels("signer").inc()
        signer_until = count.signer_locked_until
        if count.newly_signer_locked and self.notifier is not None and signer_until is not None:
            self._tell_signer(count.email, signer_until)
        if count.locked_until is not None:
            raise locked_error(count.locked_until, now)
        left = min(
            self.cfg.max_failures - count.attempts,
            self.cfg.max_failures_signer - count.signer_attempts,
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
        Lockouts(self.store).clear_channel(sub.id, self.channel.key)


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
