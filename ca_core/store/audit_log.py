"""The audit log in the database (tables ``audit_events`` and ``audit_head``).

The chain's rules — canonical encoding, hashes, what a broken chain is, which details are
refused — are in :mod:`ca_core.audit`; this module appends events and reads them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ca_core.audit import (
    AuditRecord,
    VerifyResult,
    checked_details,
    event_hash,
    event_intact,
    verify_chain,
)
from ca_core.clock import utcnow
from ca_core.errors import AuditError, StoreUnavailableError
from ca_core.store.db import describe_db_error, is_unavailable, read_only
from ca_core.store.models import AuditEvent, AuditHead

_HEAD_ID = 1

#: The columns of an event, selected as plain rows (no ORM identity map on long scans).
_EVENT_COLUMNS = (
    AuditEvent.seq,
    AuditEvent.time,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.object,
    AuditEvent.details,
    AuditEvent.prev_hash,
    AuditEvent.hash,
)


class AuditLog:
    """Appends to and verifies the audit chain stored in ``audit_events``/``audit_head``.

    ``read_engine`` (default: ``bind``'s engine, its transactions marked read-only) serves
    ``verify`` and ``list``."""

    def __init__(
        self, bind: Engine | sessionmaker[Session], read_engine: Engine | None = None
    ) -> None:
        if isinstance(bind, Engine):
            self._engine = bind
        else:
            engine = bind.kw.get("bind")
            if not isinstance(engine, Engine):
                raise TypeError("AuditLog needs an Engine or a sessionmaker bound to one")
            self._engine = engine
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        reader = read_engine if read_engine is not None else read_only(self._engine)
        self._read_sessions = sessionmaker(reader)

    def append(
        self,
        actor: str,
        action: str,
        obj: str,
        details: Mapping[str, Any] | None = None,
        *,
        session: Session | Connection | None = None,
        now: datetime | None = None,
    ) -> AuditRecord:
        """Append one event and return it.

        With ``session`` the event is written in the caller's transaction, so a state change
        and its audit event commit (or roll back) together; the head row stays locked until
        that transaction ends. Without it the event commits on its own.

        Raises AuditError for secret-looking detail keys (naming the key, never the value) or
        details that are not JSON; ValueError for a naive ``now``.
        """
        as_read, details_text = checked_details(details)
        if now is None:
            now = utcnow()
        elif now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("naive datetime refused: give a timezone-aware datetime")
        args = (actor, action, obj, as_read, details_text, now)
        if session is not None:
            with _audit_errors():
                return _write_event(session, *args)
        with _audit_errors(), self._sessions.begin() as s:
            return _write_event(s, *args)

    def verify(self, since: tuple[int, str] | None = None) -> VerifyResult:
        """Recompute every hash and link in seq order, then check the head row.

        ``since`` = (seq, hash) of a trusted checkpoint (ca_core/audit_checkpoint.py): the
        event ``seq`` must still carry that hash, and the walk starts after it (issue 18: a
        full walk of 10^7 events takes minutes). Runs in one read-only snapshot, so appends
        committed meanwhile are not mistaken for tampering.
        """
        with _audit_errors(), self._read_sessions() as s:
            head = s.execute(
                select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == _HEAD_ID)
            ).one_or_none()
            stmt = select(*_EVENT_COLUMNS)
            if since is not None:
                seq, mark = since
                at = s.execute(select(*_EVENT_COLUMNS).where(AuditEvent.seq == seq)).one_or_none()
                if at is None or at.hash != mark:
                    what = "is missing" if at is None else "does not match the checkpoint"
                    return VerifyResult(
                        False, seq - 1, seq, f"event {seq} {what} (edited since the checkpoint)"
                    )
                if not event_intact(tuple(at)):  # type: ignore[arg-type]
                    return VerifyResult(
                        False, seq - 1, seq, "content does not match its hash (event edited)"
                    )
                stmt = stmt.where(AuditEvent.seq > seq)
            rows = s.execute(stmt.order_by(AuditEvent.seq).execution_options(yield_per=500))
            return verify_chain(
                None if head is None else (head.last_seq, head.last_hash),
                (tuple(r) for r in rows),  # type: ignore[misc]
                since,
            )

    def list(
        self,
        limit: int = 50,
        offset: int = 0,
        action: str | None = None,
        actor: str | None = None,
    ) -> Sequence[AuditRecord]:
        """Events newest first, optionally only those with ``action``/``actor``."""
        stmt = select(*_EVENT_COLUMNS).order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        with _audit_errors(), self._read_sessions() as s:
            return [_record(row) for row in s.execute(stmt)]


# Built once: every state change appends, and building + cache-keying a statement per call cost
# more than executing it.
_HEAD_FOR_UPDATE = (
    select(AuditHead.last_seq, AuditHead.last_hash)
    .where(AuditHead.id == _HEAD_ID)
    .with_for_update()
)
_INSERT_EVENT = insert(AuditEvent)
_MOVE_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == _HEAD_ID)
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
    .execution_options(synchronize_session=False)
)


def _write_event(
    s: Session | Connection,
    actor: str,
    action: str,
    obj: str,
    details: Mapping[str, Any],
    details_text: str,
    time: datetime,
) -> AuditRecord:
    # FOR UPDATE locks the head on PostgreSQL until the transaction ends; SQLite ignores it
    # (its BEGIN IMMEDIATE transaction already holds the database's write lock). Should two
    # appenders ever read the same head anyway (an engine not made by make_engine), the primary
    # key on seq makes the second insert fail: the chain cannot fork.
    head = s.execute(_HEAD_FOR_UPDATE).one_or_none()
    if head is None:
        raise AuditError("audit head row is missing (database not migrated, or tampered with)")
    last_seq, last_hash = head
    seq = last_seq + 1
    digest = event_hash(seq, time, actor, action, obj, details, last_hash)
    s.execute(
        _INSERT_EVENT,
        {
            "seq": seq,
            "time": time,
            "actor": actor,
            "action": action,
            "object": obj,
            "details": details_text,
            "prev_hash": last_hash,
            "hash": digest,
        },
    )
    s.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
    return AuditRecord(seq, time.astimezone(UTC), actor, action, obj, details, last_hash, digest)


def _record(row: Row[int, datetime, str, str, str, str, str, str]) -> AuditRecord:
    return AuditRecord(
        row.seq,
        row.time,
        row.actor,
        row.action,
        row.object,
        json.loads(row.details),
        row.prev_hash,
        row.hash,
    )


@contextmanager
def _audit_errors() -> Iterator[None]:
    try:
        yield
    except DBAPIError as ex:
        if is_unavailable(ex):
            # The database is away, not the log broken: callers answer 503 and may retry.
            raise StoreUnavailableError(f"database unavailable: {describe_db_error(ex)}") from ex
        raise AuditError(f"audit log database error: {describe_db_error(ex)}") from ex
