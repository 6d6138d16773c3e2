"""Audit checkpoints: rows of ``audit_checkpoints`` (issue 18; ca_core/audit_checkpoint.py
computes and checks their MACs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import AuditCheckpoint


@dataclass(frozen=True)
class Checkpoint:
    """The chain was intact up to event ``seq``, whose hash was ``hash``."""

    seq: int
    hash: str
    created_at: datetime
    key_label: str
    mac: str


class CheckpointReads:
    def __init__(self, store: ReadOnlyStore) -> None:
        self.store = store

    def newest(self) -> Checkpoint | None:
        """The checkpoint with the highest sequence number, or None."""
        with self.store._reads() as s:
            row = s.execute(
                select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
            ).scalar_one_or_none()
        if row is None:
            return None
        return Checkpoint(row.seq, row.hash, row.created_at, row.key_label, row.mac)


class Checkpoints(CheckpointReads):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.writer = store

    def add(self, cp: Checkpoint) -> bool:
        """Record ``cp``; False when a checkpoint at that sequence number exists already."""
        with self.writer.session() as s:
            if s.execute(select(AuditCheckpoint.id).where(AuditCheckpoint.seq == cp.seq)).first():
                return False
            s.add(
                AuditCheckpoint(
                    seq=cp.seq,
                    hash=cp.hash,
                    created_at=cp.created_at,
                    key_label=cp.key_label,
                    mac=cp.mac,
                )
            )
        return True
