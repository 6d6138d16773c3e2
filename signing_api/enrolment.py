"""The signer sets their own passphrase: sole control from enrolment on.

Nobody but the signer may ever know the passphrase that activates their key (ETSI EN 319 411-1
sole control; the CSC SCAL2 model). So the RA, the console, the CLI and client apps never
choose or see it: enrolling a subscriber (or resetting their activation) sends them a one-time
*enrolment code* through the notifier, with a link to the public page ``/passphrase`` where they
choose the passphrase themselves. The code is 80 random bits, stored only as its SHA-256, valid
``signing.enrolment_hours`` and once; a newer code voids the older ones.

The link carries the code in its fragment (``/passphrase#kode=…``): browsers never send a
fragment to the server, so the code is in no access log; the page's script copies it into the
form, and without a script the signer types it from the message.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from ca_core.clock import Clock, utcnow
from ca_core.config import Config
from ca_core.errors import CaError
from ca_core.notifier import Notifier
from ca_core.passwords import hash_secret
from ca_core.store import Store
from ca_core.store.enrolment import EnrolmentReads, Enrolments
from ca_core.store.models import Subscriber
from ca_core.subscribers import MIN_PASSPHRASE, Enrolment, enrol
from signing_api import lockout

#: Longest passphrase accepted (scrypt takes any length; this bounds the work per request).
MAX_PASSPHRASE = 256
PAGE = "/passphrase"


class EnrolmentError(CaError):
    code = "enrolment_invalid"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def new_code() -> str:
    """16 base32 characters in groups of four (80 bits), easy to type from a message."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def _digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


@dataclass(frozen=True)
class Invitation:
    """Where the enrolment link points (``public_base_url``) and how long a code lives."""

    base_url: str
    hours: int

    @classmethod
    def from_config(cls, cfg: Config) -> Invitation:
        return cls(cfg.public_base_url, cfg.signing.enrolment_hours)


def invite(
    store: Store,
    notifier: Notifier,
    sub: Subscriber,
    how: Invitation,
    *,
    actor: str,
    reason: str = "enrol",
    clock: Clock = utcnow,
) -> dt.datetime:
    """Send ``sub`` a fresh enrolment code (earlier ones stop working); returns its expiry."""
    now = clock()
    code = new_code()
    expires = now + dt.timedelta(hours=how.hours)
    Enrolments(store).replace_code(
        sub.id,
        _digest(code),
        expires,
        now,
        actor=actor,
        subject=lockout.subject_key(sub),
        reason=reason,
    )
    link = f"{how.base_url.rstrip('/')}{PAGE}#kode={code}"
    notifier.send(
        sub.email,
        "Tetapkan passphrase tanda tangan elektronik Anda",
        f"Kode aktivasi Anda: {code}\n"
        f"Buka {link} lalu pilih passphrase Anda sendiri (berlaku sampai "
        f"{expires:%Y-%m-%d %H:%M} UTC, sekali pakai).\n"
        "Jangan berikan kode atau passphrase kepada siapa pun, termasuk petugas PSrE.\n\n"
        f"Your activation code: {code}. Open the link above and choose your own signing "
        "passphrase. Never give the code or the passphrase to anyone, PSrE staff included.",
        expires_at=expires,
    )
    return expires


def enrol_and_invite(
    store: Store,
    notifier: Notifier,
    e: Enrolment,
    how: Invitation,
    *,
    actor: str,
    clock: Clock = utcnow,
) -> tuple[Subscriber, dt.datetime]:
    """Register a subscriber (status NEW) and send them their enrolment code."""
    sub = enrol(store, e, actor=actor)
    return sub, invite(store, notifier, sub, how, actor=actor, clock=clock)


def reset(
    store: Store,
    notifier: Notifier,
    sub: Subscriber,
    how: Invitation,
    *,
    actor: str,
    clock: Clock = utcnow,
) -> dt.datetime:
    """The signer lost (or may have exposed) their passphrase: it stops working at once, the
    lockout counters are cleared, and a new enrolment code goes to the signer. Until they set a
    new passphrase they can still sign with one-time codes sent to them."""
    found = Enrolments(store).reset_passphrase(
        sub.id, actor=actor, subject=lockout.subject_key(sub)
    )
    if not found:
        raise EnrolmentError("subscriber", "no such subscriber")
    return invite(store, notifier, sub, how, actor=actor, reason="reset", clock=clock)


def redeem(
    store: Store,
    code: str,
    passphrase: str,
    repeat: str | None = None,
    *,
    clock: Clock = utcnow,
) -> Subscriber:
    """Set the passphrase of the subscriber whose live enrolment code ``code`` is; the code is
    spent. Raises EnrolmentError (field ``code`` or ``passphrase``) otherwise."""
    if repeat is not None and repeat != passphrase:
        raise EnrolmentError("passphrase", "the two passphrases differ")
    if len(passphrase) < MIN_PASSPHRASE or len(passphrase) > MAX_PASSPHRASE:
        raise EnrolmentError(
            "passphrase", f"must be {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters"
        )
    if not passphrase.strip() or any(not c.isprintable() for c in passphrase):
        raise EnrolmentError("passphrase", "must be printable characters, not only spaces")
    digest = _digest(code) if 0 < len(code) <= 64 else ""
    refused = EnrolmentError("code", "unknown, used or expired activation code")
    # The code is checked before scrypt runs, so that junk posted at the page costs a lookup,
    # not ~50 ms of CPU; and scrypt runs outside the write transaction.
    live = EnrolmentReads(store).live_code(digest, clock())
    if live is None:
        raise refused
    hashed = hash_secret(passphrase)
    sub = Enrolments(store).redeem(live, hashed, clock())
    if sub is None:
        raise refused
    return sub
