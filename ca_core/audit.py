"""The hash-chained, append-only audit log: its rules, without the database.

Every event carries ``prev_hash``, the hash of the event before it, and ``hash``, the SHA-256 of
its own canonical encoding (see :func:`event_hash`). Editing, deleting, reordering or cutting
off events therefore breaks the chain, and :func:`verify_chain` finds the first broken
sequence number. The log in the database, :class:`ca_core.store.audit_log.AuditLog` (also
importable from here), appends and reads; appenders serialise on the single ``audit_head`` row,
so concurrent threads and processes extend ONE chain: seq 1, 2, 3, … with no gaps and no forks.

Secrets never enter the log: :func:`checked_details` refuses details whose keys name one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ca_core.errors import AuditError

if TYPE_CHECKING:
    from ca_core.store.audit_log import AuditLog

#: prev_hash of the first event (the migrations seed the head row with it:
#: ca_core.store.models.GENESIS_HASH).
GENESIS_HASH = "0" * 64

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


def checked_details(details: Mapping[str, Any] | None) -> tuple[Any, str]:
    """(details as they will read back, canonical JSON text) for an event about to be
    appended. Raises AuditError for secret-looking keys (naming the key, never the value) or
    details that are not plain JSON."""
    secret = _find_secret_key(details or {})
    if secret:
        raise AuditError(f"audit details must not contain secrets: refusing key {secret}")
    try:
        text = canonical_json(details or {})
    except (TypeError, ValueError) as ex:
        raise AuditError(f"audit details must be plain JSON: {ex}") from None
    # Hash the details as they will read back (tuples become lists, keys strings).
    return json.loads(text), text


#: An event as stored: (seq, time, actor, action, object, details JSON text, prev_hash, hash).
StoredEvent = tuple[int, datetime, str, str, str, str, str, str]


def verify_chain(
    head: tuple[int, str] | None,
    events: Iterable[StoredEvent],
    since: tuple[int, str] | None = None,
) -> VerifyResult:
    """Recompute every hash and link of ``events`` (in seq order), then check them against
    the head row ``(last_seq, last_hash)`` (None: the row is missing). ``since`` = (seq, hash)
    of a checked checkpoint: ``events`` then start right after event ``seq``."""
    count, prev_hash = since if since is not None else (0, GENESIS_HASH)
    for seq, time, actor, action, obj, details_text, ev_prev, ev_hash in events:
        expected = count + 1
        if seq != expected:
            return _bad(expected, f"event {expected} is missing (next is {seq})")
        try:
            details = json.loads(details_text)
        except ValueError:
            return _bad(seq, "details are not valid JSON (event edited)")
        if event_hash(seq, time, actor, action, obj, details, ev_prev) != ev_hash:
            return _bad(seq, "content does not match its hash (event edited)")
        if ev_prev != prev_hash:
            return _bad(seq, f"prev_hash does not match event {seq - 1}'s hash")
        prev_hash = ev_hash
        count += 1
    if head is None:
        return VerifyResult(False, count, None, "audit head row is missing")
    last_seq, last_hash = head
    if last_seq > count:
        return _bad(count + 1, f"event {count + 1} is missing (head is at {last_seq})")
    if last_seq < count:
        return _bad(
            last_seq + 1, f"event {last_seq + 1} is beyond the head (not appended by the log)"
        )
    if last_hash != prev_hash:
        if count == 0:
            return VerifyResult(False, 0, None, "head hash is not the genesis hash")
        return _bad(count, f"head hash does not match event {count}'s hash")
    return VerifyResult(True, count, None, None, prev_hash)


def event_intact(event: StoredEvent) -> bool:
    """Whether a stored event's content still hashes to its ``hash``."""
    seq, time, actor, action, obj, details_text, ev_prev, ev_hash = event
    try:
        details = json.loads(details_text)
    except ValueError:
        return False
    return event_hash(seq, time, actor, action, obj, details, ev_prev) == ev_hash


def _bad(seq: int, reason: str) -> VerifyResult:
    """A broken chain: every event before ``seq`` is intact."""
    return VerifyResult(False, seq - 1, seq, reason)


def __getattr__(name: str) -> Any:
    # The log in the database stays importable from here; loaded on first use, since the store
    # imports this module.
    if name == "AuditLog":
        from ca_core.store.audit_log import AuditLog

        return AuditLog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditRecord",
    "StoredEvent",
    "VerifyResult",
    "canonical_json",
    "checked_details",
    "event_hash",
    "event_intact",
    "format_time",
    "verify_chain",
]
