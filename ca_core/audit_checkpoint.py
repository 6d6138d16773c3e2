"""Audit checkpoints: start ``psre audit verify`` where an earlier walk found the chain intact.

Issue 18: a full walk of the hash chain recomputes every event's hash, ~7-15 min at 10^7
events on two shared cores, too slow to run every day. After a walk finds the chain intact,
``--checkpoint`` records (seq, hash) of its last event with an HMAC-SHA256 computed inside the
HSM (key ``audit-checkpoint``, generated in the token on first use, never leaving it).
``--from-checkpoint`` checks the newest checkpoint's MAC and that event ``seq`` still carries
that hash, then walks only the events after it.

What this does not see: an event before the checkpoint edited *without* recomputing the chain
after it (its own hash no longer matches, but only a full walk recomputes it). Rewriting the
chain up to the checkpoint changes the checkpointed event's hash, which is detected. So the
daily run starts from the checkpoint, and a full walk still runs now and then (weekly).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from ca_core.audit import VerifyResult, format_time
from ca_core.store import Store
from ca_core.store.audit_checkpoints import Checkpoint, CheckpointReads, Checkpoints
from ca_core.store.db import utcnow
from hsm.backend import KeyBackend

KEY_LABEL = "audit-checkpoint"


def checkpoint_text(seq: int, hash_: str, created_at: datetime) -> bytes:
    """The bytes the HSM authenticates for a checkpoint."""
    return (
        f"psre audit checkpoint\nseq={seq}\nhash={hash_}\nat={format_time(created_at)}\n".encode()
    )


@dataclass(frozen=True)
class CheckedWalk:
    """A verification and the checkpoints it used and set."""

    result: VerifyResult
    #: The checkpoint the walk started after (None: from the genesis).
    started_after: int | None
    #: The checkpoint recorded at the end (None: none asked for, or the chain is broken).
    recorded: int | None


def verify(
    store: Store,
    backend: KeyBackend,
    *,
    from_checkpoint: bool,
    record: bool,
    now: datetime | None = None,
) -> CheckedWalk:
    """Walk the chain (from the newest checkpoint with ``from_checkpoint``) and, when it is
    intact and ``record``, set a checkpoint at its last event."""
    start: tuple[int, str] | None = None
    if from_checkpoint:
        cp = CheckpointReads(store).newest()
        if cp is not None:
            want = backend.mac(cp.key_label, checkpoint_text(cp.seq, cp.hash, cp.created_at))
            if not hmac.compare_digest(want.hex(), cp.mac):
                reason = f"checkpoint at event {cp.seq} fails its HSM MAC (forged or altered)"
                return CheckedWalk(VerifyResult(False, 0, None, reason), cp.seq, None)
            start = (cp.seq, cp.hash)
    result = store.audit.verify(since=start)
    recorded = None
    if record and result.ok and result.count > 0 and result.last_hash is not None:
        backend.ensure_mac_key(KEY_LABEL)
        at = now or utcnow()
        mac = backend.mac(KEY_LABEL, checkpoint_text(result.count, result.last_hash, at)).hex()
        if Checkpoints(store).add(Checkpoint(result.count, result.last_hash, at, KEY_LABEL, mac)):
            recorded = result.count
    return CheckedWalk(result, start[0] if start else None, recorded)
