"""Console operators, their login attempts and their server-side sessions.

Reads (``OperatorReads``) go through the read-only face: the console looks a session up on
every request, and that look-up must not queue behind writers. Writes (``Operators``) each run
in one transaction with their audit event. Passwords and tokens arrive here already hashed
(web.operators hashes them): nothing in this module sees a secret.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import Delete, delete, func, select, update
from sqlalchemy.orm import Session

from ca_core import audit_objects
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.db import rows_changed
from ca_core.store.models import LoginAttempt, Operator, OperatorSession
from ca_core.store.sessions import read_session


@dataclass(frozen=True)
class SessionRow:
    """A stored console session with its operator (None if the operator row is gone)."""

    session: OperatorSession
    operator: Operator | None


class EnableOutcome(Enum):
    DONE = "done"
    NO_SUCH_OPERATOR = "no_such_operator"
    LAST_ADMIN = "last_admin"


@dataclass(frozen=True)
class NewSession:
    """What a successful login stores: the token's and CSRF token's values come from the
    caller (web.operators makes them)."""

    token_sha256: str
    csrf_token: str
    expires_at: dt.datetime


class OperatorReads:
    """Look-ups on the read-only face."""

    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def role(self, name: str) -> str | None:
        with read_session(self.store) as s:
            return s.scalar(select(Operator.role).where(Operator.name == name))

    def by_name(self, name: str) -> Operator | None:
        with read_session(self.store) as s:
            return s.scalar(select(Operator).where(Operator.name == name))

    def all(self) -> list[Operator]:
        """Every operator, by name."""
        with read_session(self.store) as s:
            return list(s.scalars(select(Operator).order_by(Operator.name)))

    def session(self, token_sha256: str) -> SessionRow | None:
        """The session stored under ``token_sha256`` and its operator (one snapshot)."""
        with read_session(self.store) as s:
            row = s.scalar(
                select(OperatorSession).where(OperatorSession.token_sha256 == token_sha256)
            )
            if row is None:
                return None
            return SessionRow(row, s.get(Operator, row.operator_id))


class Operators:
    """Changes to operators, attempts and sessions: each one transaction with its audit event."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(
        self, name: str, role: str, password_hash: str, *, actor: str, details: dict[str, object]
    ) -> Operator | None:
        """Store a new enabled operator; None (nothing written) when the name is taken."""
        op = Operator(name=name, role=role, password_hash=password_hash, enabled=True)
        with self.store.session() as s:
            if s.scalar(select(Operator.id).where(Operator.name == name)) is not None:
                return None
            s.add(op)
            self.store.audit.append(
                actor, "operator.add", audit_objects.operator(name), details, session=s
            )
        return op

    def set_enabled(
        self, name: str, enabled: bool, *, actor: str, now: dt.datetime
    ) -> EnableOutcome:
        """Enable or disable ``name``; the last enabled admin is never disabled. Disabling ends
        the operator's open sessions at ``now``."""
        with self.store.session() as s:
            op = s.scalar(select(Operator).where(Operator.name == name))
            if op is None:
                return EnableOutcome.NO_SUCH_OPERATOR
            if not enabled and op.enabled and op.role == "admin":
                # Locking every enabled admin row makes two concurrent disables take turns, so
                # they cannot each see the other admin still enabled.
                admins = s.scalars(
                    select(Operator.id)
                    .where(Operator.role == "admin", Operator.enabled.is_(True))
                    .with_for_update()
                ).all()
                if len(admins) <= 1:
                    return EnableOutcome.LAST_ADMIN
            op.enabled = enabled
            if not enabled:
                s.execute(
                    update(OperatorSession)
                    .where(OperatorSession.operator_id == op.id)
                    .values(expires_at=now)
                )
            action = "operator.enable" if enabled else "operator.disable"
            self.store.audit.append(actor, action, audit_objects.operator(name), {}, session=s)
        return EnableOutcome.DONE

    def reserve_login_attempt(
        self,
        name: str,
        remote_addr: str,
        *,
        now: dt.datetime,
        since: dt.datetime,
        max_by_name: int,
        max_by_addr: int,
    ) -> int | None:
        """Count the failures since ``since`` and, below the limits, record this attempt as a
        failure *before* the password is checked (its id is returned); None when throttled,
        which is audited.

        Counting and recording in one serialised transaction keeps the limit exact under
        concurrency: attempts being checked already count.
        """
        with self.store.session() as s:
            _serialise(s, f"login-name:{name}", f"login-addr:{remote_addr}")
            by_name = _failures(s, LoginAttempt.username == name, since)
            by_addr = _failures(s, LoginAttempt.remote_addr == remote_addr, since)
            if by_name >= max_by_name or by_addr >= max_by_addr:
                self.store.audit.append(
                    "web",
                    "operator.login_throttled",
                    audit_objects.operator(name),
                    {"remote_addr": remote_addr},
                    session=s,
                )
                return None
            attempt = LoginAttempt(username=name, remote_addr=remote_addr, time=now, success=False)
            s.add(attempt)
            s.flush()
            return attempt.id

    def login_failed(self, name: str, remote_addr: str, reason: str) -> None:
        """Audit a refused login (the attempt stays recorded as a failure)."""
        self.store.audit.append(
            "web",
            "operator.login_failed",
            audit_objects.operator(name),
            {"remote_addr": remote_addr, "reason": reason},
        )

    def login_succeeded(
        self,
        attempt_id: int,
        operator: Operator,
        new: NewSession,
        *,
        remote_addr: str,
        now: dt.datetime,
    ) -> None:
        """Mark the attempt a success, open the session, stamp the operator's last login and
        audit it, in one transaction."""
        with self.store.session() as s:
            s.execute(
                update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(success=True)
            )
            s.add(
                OperatorSession(
                    token_sha256=new.token_sha256,
                    operator_id=operator.id,
                    csrf_token=new.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=new.expires_at,
                )
            )
            s.execute(update(Operator).where(Operator.id == operator.id).values(last_login_at=now))
            self.store.audit.append(
                operator.name,
                "operator.login",
                audit_objects.operator(operator.name),
                {"remote_addr": remote_addr},
                session=s,
            )

    def touch_session(self, token_sha256: str, now: dt.datetime) -> None:
        """Record activity on a session (idle time counts from ``now``)."""
        with self.store.session() as s:
            s.execute(
                update(OperatorSession)
                .where(OperatorSession.token_sha256 == token_sha256)
                .values(last_seen_at=now)
            )

    def drop_session(self, token_sha256: str) -> None:
        """Forget a session that is over (expired, idle, operator disabled): not audited."""
        with self.store.session() as s:
            s.execute(_delete_session(token_sha256))

    def logout(self, token_sha256: str, *, actor: str) -> None:
        """End a session the operator closed; audited when there was one."""
        with self.store.session() as s:
            if rows_changed(s, _delete_session(token_sha256)):
                self.store.audit.append(
                    actor, "operator.logout", audit_objects.operator(actor), {}, session=s
                )


def _delete_session(token_sha256: str) -> Delete:
    return delete(OperatorSession).where(OperatorSession.token_sha256 == token_sha256)


def _failures(s: Session, who: object, since: dt.datetime) -> int:
    return int(
        s.scalar(
            select(func.count(LoginAttempt.id)).where(
                who,  # type: ignore[arg-type]
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
