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

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ca_core import audit_objects
from ca_core.ca_level import Authorisation
from ca_core.config import WebConfig
from ca_core.errors import CaError
from ca_core.names import OPERATOR_ROLES
from ca_core.passwords import hash_secret, verify_secret
from ca_core.store import Store
from ca_core.store.db import utcnow
from ca_core.store.models import LoginAttempt, Operator, OperatorSession

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
    op = Operator(name=name, role=role, password_hash=password_hash, enabled=True)
    details: dict[str, object] = {"role": role}
    if authorisation is not None:
        details["authorisation"] = authorisation.as_details()
    with store.session() as s:
        exists = s.scalar(select(Operator.id).where(Operator.name == name))
        if exists is not None:
            raise OperatorError(f"operator {name} already exists")
        s.add(op)
        store.audit.append(actor, "operator.add", audit_objects.operator(name), details, session=s)
    return op


def operator_role(store: Store, name: str) -> str | None:
    with store.session() as s:
        return s.scalar(select(Operator.role).where(Operator.name == name))


def set_enabled(store: Store, name: str, enabled: bool, *, actor: str) -> None:
    """Enable or disable an operator. The last enabled admin cannot be disabled: nobody could
    then manage operators or approve anything in the console."""
    with store.session() as s:
        op = s.scalar(select(Operator).where(Operator.name == name))
        if op is None:
            raise OperatorError(f"no operator {name}")
        if not enabled and op.enabled and op.role == "admin":
            # Locking every enabled admin row makes two concurrent disables take turns, so
            # they cannot each see the other admin still enabled.
            admins = s.scalars(
                select(Operator.id)
                .where(Operator.role == "admin", Operator.enabled.is_(True))
                .with_for_update()
            ).all()
            if len(admins) <= 1:
                raise OperatorError(f"{name} is the last enabled admin and cannot be disabled")
        op.enabled = enabled
        if not enabled:  # a disabled operator's open sessions end now
            s.execute(
                update(OperatorSession)
                .where(OperatorSession.operator_id == op.id)
                .values(expires_at=utcnow())
            )
        action = "operator.enable" if enabled else "operator.disable"
        store.audit.append(actor, action, audit_objects.operator(name), {}, session=s)


def list_operators(store: Store) -> list[Operator]:
    with store.session() as s:
        return list(s.scalars(select(Operator).order_by(Operator.name)))


def _recent_failures(s: Session, column: object, value: str, since: dt.datetime) -> int:
    return int(
        s.scalar(
            select(func.count(LoginAttempt.id)).where(
                column == value,  # type: ignore[arg-type]
                LoginAttempt.success.is_(False),
                LoginAttempt.time >= since,
            )
        )
        or 0
    )


def _serialise(s: Session, *keys: str) -> None:
    """Make concurrent logins for the same name or address take turns until commit.

    SQLite already does (each write transaction begins IMMEDIATE); PostgreSQL takes a
    transaction-scoped advisory lock per key, in sorted order so two logins never deadlock.
    """
    if s.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        s.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


def _reserve_attempt(
    store: Store, cfg: WebConfig, name: str, remote_addr: str, now: dt.datetime
) -> int | None:
    """Count the recent failures and, below the limits, record this attempt as a failure
    *before* the password is checked; None when throttled.

    Counting and recording in one serialised transaction is what keeps the limit exact under
    concurrency: attempts being checked already count, so at most ``login_max_failures``
    passwords are ever checked for a name within the window. A success is written back.
    """
    since = now - dt.timedelta(minutes=cfg.login_window_minutes)
    with store.session() as s:
        _serialise(s, f"login-name:{name}", f"login-addr:{remote_addr}")
        by_name = _recent_failures(s, LoginAttempt.username, name, since)
        by_addr = _recent_failures(s, LoginAttempt.remote_addr, remote_addr, since)
        if by_name >= cfg.login_max_failures or by_addr >= 4 * cfg.login_max_failures:
            store.audit.append(
                "web",
                "operator.login_throttled",
                audit_objects.operator(name),
                {"remote_addr": remote_addr},
                session=s,
            )
            from ca_core.metrics import LOCKOUTS

            LOCKOUTS.labels("operator").inc()
            return None
        attempt = LoginAttempt(username=name, remote_addr=remote_addr, time=now, success=False)
        s.add(attempt)
        s.flush()
        return attempt.id


def login(
    store: Store, cfg: WebConfig, name: str, password: str, *, remote_addr: str
) -> LoginResult:
    """Check a console login. Raises LoginThrottled once too many attempts failed recently
    (per name, and per address at four times the limit); both outcomes are audited."""
    now = utcnow()
    name = name.strip()[:64]
    attempt_id = _reserve_attempt(store, cfg, name, remote_addr, now)
    if attempt_id is None:
        raise LoginThrottled("too many failed logins; try again later")
    with store.session() as s:
        op = s.scalar(select(Operator).where(Operator.name == name))
    ok = verify_secret(password, op.password_hash if op is not None else dummy_hash())
    reason = None
    if op is None or not ok:
        reason = "bad_credentials"
    elif not op.enabled:
        reason = "disabled"
    token = None
    with store.session() as s:
        if reason:
            store.audit.append(
                "web",
                "operator.login_failed",
                audit_objects.operator(name),
                {"remote_addr": remote_addr, "reason": reason},
                session=s,
            )
        else:
            assert op is not None
            s.execute(
                update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(success=True)
            )
            token = secrets.token_urlsafe(32)
            hours = dt.timedelta(hours=cfg.session_max_hours)
            s.add(
                OperatorSession(
                    token_sha256=_digest(token),
                    operator_id=op.id,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + hours,
                )
            )
            row = s.get(Operator, op.id)
            assert row is not None
            row.last_login_at = now
            store.audit.append(
                name,
                "operator.login",
                audit_objects.operator(name),
                {"remote_addr": remote_addr},
                session=s,
            )
    return LoginResult(op if not reason else None, token, reason)


def session_for(store: Store, cfg: WebConfig, token: str) -> ActiveSession | None:
    """The live session for a cookie token, touched; None if unknown, idle too long or over."""
    now = utcnow()
    with store.session() as s:
        row = s.scalar(
            select(OperatorSession).where(OperatorSession.token_sha256 == _digest(token))
        )
        if row is None:
            return None
        idle = now - row.last_seen_at > dt.timedelta(minutes=cfg.session_idle_minutes)
        if idle or now >= row.expires_at:
            s.delete(row)
            return None
        op = s.get(Operator, row.operator_id)
        if op is None or not op.enabled:
            s.delete(row)
            return None
        row.last_seen_at = now
        return ActiveSession(op, row.csrf_token, row.expires_at)


def logout(store: Store, token: str, *, actor: str) -> None:
    with store.session() as s:
        row = s.scalar(
            select(OperatorSession).where(OperatorSession.token_sha256 == _digest(token))
        )
        if row is not None:
            s.delete(row)
            store.audit.append(
                actor, "operator.logout", audit_objects.operator(actor), {}, session=s
            )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
