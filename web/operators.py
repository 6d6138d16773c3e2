"""Operator accounts, console logins (rate-limited, audited) and server-side sessions.

No Flask here: the CLI (``psre operator add``) and the console share these functions. Passwords
are scrypt-hashed (ca_core.passwords); session tokens are random and only their SHA-256 is
stored. Every state change writes an audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from ca_core.ca_level import Authorisation
from ca_core.clock import Clock, utcnow
from ca_core.config import WebConfig
from ca_core.errors import CaError
from ca_core.names import OPERATOR_ROLES
from ca_core.passwords import hash_secret, verify_secret
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import Operator
from ca_core.store.operators import EnableOutcome, NewSession, OperatorReads, Operators

NAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,63}")
MIN_PASSWORD = 12
#: Verifying against this keeps a login for an unknown name as slow as one for a known name.
#: Made on first use, not at import: scrypt costs ~0.25 s, which every `psre` command would pay.
_dummy_hash: str | None = None


def dummy_hash() -> str:
    """The hash a login for an unknown name is checked against (the web app makes it at start)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_secret(secrets.token_hex(16))
    return _dummy_hash


#: What each role may do. Views name a permission, never a role, so the table is the policy.
PERMISSIONS: dict[str, frozenset[str]] = {
    "dashboard.view": frozenset({"ra", "auditor", "admin"}),
    "certificate.view": frozenset({"ra", "auditor"}),
    "certificate.change": frozenset({"ra"}),
    "subscriber.view": frozenset({"ra", "auditor"}),
    "subscriber.change": frozenset({"ra"}),
    "client.manage": frozenset({"admin"}),
    "operator.manage": frozenset({"admin"}),
    "approval.manage": frozenset({"admin"}),
    "audit.view": frozenset({"auditor", "admin"}),
}


class OperatorError(CaError):
    code = "operator_invalid"


class LoginThrottled(CaError):
    code = "login_throttled"


@dataclass(frozen=True)
class LoginResult:
    operator: Operator | None
    #: The cookie value (only when the login succeeded); never stored, never logged.
    token: str | None
    reason: str | None


@dataclass(frozen=True)
class ActiveSession:
    operator: Operator
    csrf_token: str
    expires_at: dt.datetime


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, frozenset())


def check_new_operator(name: str, role: str, password: str) -> None:
    """Why ``name``/``role``/``password`` cannot make an operator (OperatorError), if they can't."""
    if not NAME_RE.fullmatch(name):
        raise OperatorError("name: 2-64 characters, lowercase letters, digits, . _ -")
    if role not in OPERATOR_ROLES:
        raise OperatorError(f"role: must be one of {', '.join(OPERATOR_ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise OperatorError(f"password: must be at least {MIN_PASSWORD} characters")


def add_operator(store: Store, name: str, role: str, password: str, *, actor: str) -> Operator:
    """Create an operator at once (the CLI, which makes the first admin; the console for the
    RA and auditor roles — an admin added in the console waits for a second admin)."""
    check_new_operator(name, role, password)
    return insert_operator(store, name, role, hash_secret(password), actor=actor)


def insert_operator(
    store: Store,
    name: str,
    role: str,
    password_hash: str,
    *,
    actor: str,
    authorisation: Authorisation | None = None,
) -> Operator:
    """Store an operator whose password is already hashed (an approved ``operator.add_admin``
    proposal keeps only the hash while it waits)."""
    details: dict[str, object] = {"role": role}
    if authorisation is not None:
        details["authorisation"] = authorisation.as_details()
    op = Operators(store).insert(name, role, password_hash, actor=actor, details=details)
    if op is None:
        raise OperatorError(f"operator {name} already exists")
    return op


def operator_role(store: ReadOnlyStore, name: str) -> str | None:
    return OperatorReads(store).role(name)


def set_enabled(
    store: Store, name: str, enabled: bool, *, actor: str, clock: Clock = utcnow
) -> None:
    """Enable or disable an operator. The last enabled admin cannot be disabled: nobody could
    then manage operators or approve anything in the console. A disabled operator's open
    sessions end now."""
    outcome = Operators(store).set_enabled(name, enabled, actor=actor, now=clock())
    if outcome is EnableOutcome.NO_SUCH_OPERATOR:
        raise OperatorError(f"no operator {name}")
    if outcome is EnableOutcome.LAST_ADMIN:
        raise OperatorError(f"{name} is the last enabled admin and cannot be disabled")


def list_operators(store: ReadOnlyStore) -> list[Operator]:
    return OperatorReads(store).all()


def login(
    store: Store,
    cfg: WebConfig,
    name: str,
    password: str,
    *,
    remote_addr: str,
    clock: Clock = utcnow,
) -> LoginResult:
    """Check a console login. Raises LoginThrottled once too many attempts failed recently
    (per name, and per address at four times the limit); both outcomes are audited.

    The attempt is recorded as a failure *before* the password is checked, so at most
    ``login_max_failures`` passwords are ever checked for a name within the window, however
    many logins run at once; a success is written back.
    """
    now = clock()
    name = name.strip()[:64]
    writes = Operators(store)
    attempt_id = writes.reserve_login_attempt(
        name,
        remote_addr,
        now=now,
        since=now - dt.timedelta(minutes=cfg.login_window_minutes),
        max_by_name=cfg.login_max_failures,
        max_by_addr=4 * cfg.login_max_failures,
    )
    if attempt_id is None:
        from ca_core.metrics import LOCKOUTS

        LOCKOUTS.labels("operator").inc()
        raise LoginThrottled("too many failed logins; try again later")
    op = OperatorReads(store).by_name(name)
    ok = verify_secret(password, op.password_hash if op is not None else dummy_hash())
    reason = None
    if op is None or not ok:
        reason = "bad_credentials"
    elif not op.enabled:
        reason = "disabled"
    if reason:
        writes.login_failed(name, remote_addr, reason)
        return LoginResult(None, None, reason)
    assert op is not None
    token = secrets.token_urlsafe(32)
    new = NewSession(
        _digest(token), secrets.token_urlsafe(32), now + dt.timedelta(hours=cfg.session_max_hours)
    )
    writes.login_succeeded(attempt_id, op, new, remote_addr=remote_addr, now=now)
    return LoginResult(op, token, None)


def touch_interval(cfg: WebConfig) -> dt.timedelta:
    """How stale a session's ``last_seen_at`` may get before a request writes it again.

    Writing it on every request made every console page a write transaction (queued behind
    any writer, refused on a read-only connection). A tenth of the idle limit, at most a
    minute, keeps the idle timeout within 10 % of exact.
    """
    return min(dt.timedelta(minutes=1), dt.timedelta(minutes=cfg.session_idle_minutes) / 10)


def session_for(
    store: Store, cfg: WebConfig, token: str, *, clock: Clock = utcnow
) -> ActiveSession | None:
    """The live session for a cookie token; None if unknown, idle too long or over.

    Read on the read-only face; written only to forget a session that is over or when its
    last activity is older than :func:`touch_interval`.
    """
    now = clock()
    digest = _digest(token)
    found = OperatorReads(store).session(digest)
    if found is None:
        return None
    row, op = found.session, found.operator
    idle = now - row.last_seen_at > dt.timedelta(minutes=cfg.session_idle_minutes)
    if idle or now >= row.expires_at or op is None or not op.enabled:
        Operators(store).drop_session(digest)
        return None
    if now - row.last_seen_at >= touch_interval(cfg):
        Operators(store).touch_session(digest, now)
    return ActiveSession(op, row.csrf_token, row.expires_at)


def logout(store: Store, token: str, *, actor: str) -> None:
    Operators(store).logout(_digest(token), actor=actor)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
