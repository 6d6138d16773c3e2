"""The hash-chained, append-only audit log.

Every event carries ``prev_hash``, the hash of the event before it, and ``hash``, the SHA-256 of
its own canonical encoding (see :func:`event_hash`). Editing, deleting, reordering or cutting
off events therefore breaks the chain, and :meth:`AuditLog.verify` finds the first broken
sequence number. Appenders serialise on the single ``audit_head`` row, so concurrent threads
and processes extend ONE chain: seq 1, 2, 3, … with no gaps and no forks.

Secrets never enter the log: :meth:`AuditLog.append` refuses details whose keys name one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ca_core.errors import AuditError
from ca_core.store.db import describe_db_error, read_only, utcnow
from ca_core.store.models import GENESIS_HASH, AuditEvent, AuditHead

_HEAD_ID = 1

# Secret-looking detail keys. Long words match anywhere in a key ("new_password",
# "client_secret"); the short ones must be a whole word of the key or end one ("pin",
# "user_pin", "userPin", "sopin", "hotp"), so that "mapping" or "footprint" stay allowed.
_SECRET_SUBSTRINGS = ("passphrase", "password", "secret", "private_key", "privatekey")
_SECRET_WORD_ENDINGS = ("pin", "otp")


def _is_secret_key(key: str) -> bool:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
    if any(s in snake for s in _SECRET_SUBSTRINGS):
        return True
    words = re.split(r"[^a-z]+", snake)
    return any(w.endswith(_SECRET_WORD_ENDINGS) for w in words)


def _find_secret_key(value: Any, path: str = "details") -> str | None:
    """The path of the first secret-looking key in ``value`` (searched recursively)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            here = f"{path}.{k}"
            if _is_secret_key(str(k)):
                return here
            found = _find_secret_key(v, here)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = _find_secret_key(v, f"{path}[{i}]")
            if found:
                return found
    return None


def canonical_json(value: Any) -> str:
    """The canonical JSON text: sorted keys, no whitespace, UTF-8 (not \\u escapes)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def format_time(t: datetime) -> str:
    """ISO 8601 UTC with microseconds and "Z", e.g. ``2025-01-31T08:00:00.000000Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    seq: int,
    time: datetime,
    actor: str,
    action: str,
    obj: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of an event's canonical encoding; anyone can recompute it from a row."""
    doc = {
        "seq": seq,
        "time": format_time(time),
        "actor": actor,
        "action": action,
        "object": obj,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


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


@dataclass(frozen=True)
class AuditRecord:
    """One event of the log, as appended or read back."""

    seq: int
    time: datetime
    actor: str
    action: str
    object: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (time as in the hash encoding)."""
        return {
            "seq": self.seq,
            "time": format_time(self.time),
            "actor": self.actor,
            "action": self.action,
            "object": self.object,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :meth:`AuditLog.verify`.

    ``count`` is the number of events found intact before the first problem (all of them when
    ``ok``). ``first_bad_seq`` is the first sequence number that is edited, missing or unlinked;
    it is None when ``ok``, and also when the problem is not one event (the head row is gone).
    """

    ok: bool
    count: int
    first_bad_seq: int | None
    reason: str | None
    #: The hash of event ``count`` when ``ok`` (where a checkpoint may be set).
    last_hash: str | None = None


class AuditLog:
    """Appends to and verifies the audit chain stored in ``audit_events``/``audit_head``."""

    def __init__(self, bind: Engine | sessionmaker[Session]) -> None:
        if isinstance(bind, Engine):
            self._engine = bind
        else:
            engine = bind.kw.get("bind")
            if not isinstance(engine, Engine):
                raise TypeError("AuditLog needs an Engine or a sessionmaker bound to one")
            self._engine = engine
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(read_only(self._engine))

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
        secret = _find_secret_key(details or {})
        if secret:
            raise AuditError(f"audit details must not contain secrets: refusing key {secret}")
        try:
            details_text = canonical_json(details or {})
        except (TypeError, ValueError) as ex:
            raise AuditError(f"audit details must be plain JSON: {ex}") from None
        if now is None:
            now = utcnow()
        elif now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("naive datetime refused: give a timezone-aware datetime")
        # Hash the details as they will read back (tuples become lists, keys strings).
        args = (actor, action, obj, json.loads(details_text), details_text, now)
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
            count = 0
            prev_hash = GENESIS_HASH
            stmt = select(*_EVENT_COLUMNS)
            if since is not None:
                count, prev_hash = since
                at = s.execute(select(*_EVENT_COLUMNS).where(AuditEvent.seq == count)).one_or_none()
                if at is None or at.hash != prev_hash:
                    what = "is missing" if at is None else "does not match the checkpoint"
                    return _bad(count, f"event {count} {what} (edited since the checkpoint)")
                if not _intact(at):
                    return _bad(count, "content does not match its hash (event edited)")
                stmt = stmt.where(AuditEvent.seq > count)
            rows = s.execute(stmt.order_by(AuditEvent.seq).execution_options(yield_per=500))
            for ev in rows:
                expected = count + 1
                if ev.seq != expected:
                    return _bad(expected, f"event {expected} is missing (next is {ev.seq})")
                try:
                    details = json.loads(ev.details)
                except ValueError:
                    return _bad(ev.seq, "details are not valid JSON (event edited)")
                recomputed = event_hash(
                    ev.seq, ev.time, ev.actor, ev.action, ev.object, details, ev.prev_hash
                )
                if recomputed != ev.hash:
                    return _bad(ev.seq, "content does not match its hash (event edited)")
                if ev.prev_hash != prev_hash:
                    return _bad(ev.seq, f"prev_hash does not match event {ev.seq - 1}'s hash")
                prev_hash = ev.hash
                count += 1
        if head is None:
            return VerifyResult(False, count, None, "audit head row is missing")
        if head.last_seq > count:
            return _bad(count + 1, f"event {count + 1} is missing (head is at {head.last_seq})")
        if head.last_seq < count:
            return _bad(
                head.last_seq + 1,
                f"event {head.last_seq + 1} is beyond the head (not appended by the log)",
            )
        if head.last_hash != prev_hash:
            if count == 0:
                return VerifyResult(False, 0, None, "head hash is not the genesis hash")
            return _bad(count, f"head hash does not match event {count}'s hash")
        return VerifyResult(True, count, None, None, prev_hash)

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


def _intact(ev: Row[int, datetime, str, str, str, str, str, str]) -> bool:
    """Whether an event row's content still hashes to its ``hash``."""
    try:
        details = json.loads(ev.details)
    except ValueError:
        return False
    return bool(
        event_hash(ev.seq, ev.time, ev.actor, ev.action, ev.object, details, ev.prev_hash)
        == ev.hash
    )


def _bad(seq: int, reason: str) -> VerifyResult:
    """A broken chain: every event before ``seq`` is intact."""
    return VerifyResult(False, seq - 1, seq, reason)


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
        raise AuditError(f"audit log database error: {describe_db_error(ex)}") from ex
