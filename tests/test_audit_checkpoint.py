"""Audit checkpoints (issue 18): a daily ``psre audit verify --from-checkpoint`` walks only the
events after the newest checkpoint, whose HSM MAC and hash are checked; real SoftHSM token,
SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

from click.testing import CliRunner
from sqlalchemy import select, update

from ca_core.audit import AuditLog
from ca_core.audit_checkpoint import KEY_LABEL, verify
from ca_core.audit_cli import audit
from ca_core.clock import Clock, utcnow
from ca_core.store import Store
from ca_core.store.models import AuditCheckpoint, AuditEvent
from hsm.pkcs11_backend import Pkcs11Backend
from tests.test_audit import _edit, append_n


@dataclass
class CliObj:
    """What ``psre audit verify --checkpoint`` needs from the Runtime."""

    store: Store
    audit: AuditLog
    backend: Pkcs11Backend
    clock: Clock = utcnow


def test_a_checkpoint_is_recorded_and_the_next_walk_starts_after_it(
    store: Store, backend: Pkcs11Backend
) -> None:
    append_n(store.audit, 5)
    first = verify(store, backend, from_checkpoint=True, record=True)
    assert first.result.ok and first.started_after is None and first.recorded == 5
    append_n(store.audit, 3)
    second = verify(store, backend, from_checkpoint=True, record=True)
    assert second.result.ok and second.result.count == 8
    assert (second.started_after, second.recorded) == (5, 8)
    # Nothing appended since: the walk is empty, no second checkpoint at the same event.
    third = verify(store, backend, from_checkpoint=True, record=True)
    assert third.result.ok and (third.started_after, third.recorded) == (8, None)
    with store.session() as s:
        rows = s.execute(select(AuditCheckpoint.seq, AuditCheckpoint.key_label)).all()
    assert sorted(rows) == [(5, KEY_LABEL), (8, KEY_LABEL)]


def test_an_edit_after_the_checkpoint_is_found(store: Store, backend: Pkcs11Backend) -> None:
    append_n(store.audit, 4)
    verify(store, backend, from_checkpoint=False, record=True)
    append_n(store.audit, 3)
    _edit(6, actor="mallory")(store.engine)
    walk = verify(store, backend, from_checkpoint=True, record=True)
    assert not walk.result.ok and walk.result.first_bad_seq == 6 and walk.recorded is None


def test_a_rewritten_chain_does_not_match_the_checkpoint(
    store: Store, backend: Pkcs11Backend
) -> None:
    # Rewriting events up to the checkpoint changes the checkpointed event's hash.
    append_n(store.audit, 4)
    verify(store, backend, from_checkpoint=False, record=True)
    with store.engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(hash="0" * 64))
    walk = verify(store, backend, from_checkpoint=True, record=False)
    assert not walk.result.ok and walk.result.first_bad_seq == 4
    assert "does not match the checkpoint" in (walk.result.reason or "")


def test_a_forged_checkpoint_fails_its_mac(store: Store, backend: Pkcs11Backend) -> None:
    # Someone with the database but not the HSM moves the checkpoint to skip a tampered range.
    append_n(store.audit, 4)
    verify(store, backend, from_checkpoint=False, record=True)
    append_n(store.audit, 2)
    _edit(5, actor="mallory")(store.engine)
    with store.engine.begin() as conn:
        h6 = conn.execute(select(AuditEvent.hash).where(AuditEvent.seq == 6)).scalar_one()
        conn.execute(update(AuditCheckpoint).values(seq=6, hash=h6))
    walk = verify(store, backend, from_checkpoint=True, record=True)
    assert not walk.result.ok and "fails its HSM MAC" in (walk.result.reason or "")
    # The full walk (no checkpoint) still finds the edit itself.
    assert store.audit.verify().first_bad_seq == 5


def test_cli_verify_with_checkpoints(store: Store, backend: Pkcs11Backend) -> None:
    append_n(store.audit, 3)
    obj = CliObj(store, store.audit, backend)
    out = CliRunner().invoke(audit, ["verify", "--checkpoint"], obj=obj)
    assert out.exit_code == 0, out.output
    assert out.output.strip() == "audit chain intact: 3 events; checkpoint at 3"
    append_n(store.audit, 2)
    out = CliRunner().invoke(audit, ["verify", "--from-checkpoint", "--checkpoint"], obj=obj)
    assert out.exit_code == 0, out.output
    assert out.output.strip() == (
        "audit chain intact: 5 events (walked from checkpoint 3); checkpoint at 5"
    )
    # The checkpointed event itself is recomputed too; earlier ones only by a full walk.
    _edit(5, actor="mallory")(store.engine)
    out = CliRunner().invoke(audit, ["verify", "--from-checkpoint"], obj=obj)
    assert out.exit_code == 1
    assert out.output.startswith("audit chain broken at sequence 5: ")
    _edit(5, actor="operator-1")(store.engine)
    _edit(2, actor="mallory")(store.engine)
    out = CliRunner().invoke(audit, ["verify", "--from-checkpoint"], obj=obj)
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(audit, ["verify"], obj=obj)
    assert out.exit_code == 1
    assert out.output.startswith("audit chain broken at sequence 2: ")
