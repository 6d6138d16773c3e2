"""The hash-chained audit log on real SQLite and PostgreSQL: chaining, tamper detection,
secret refusal, concurrent appenders (threads and processes) and the ``psre audit`` commands."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import sessionmaker

from ca_core.audit import AuditLog, event_hash
from ca_core.audit_cli import audit
from ca_core.errors import AuditError
from ca_core.store import Store
from ca_core.store.models import GENESIS_HASH, AuditEvent, AuditHead, Subscriber

REPO = Path(__file__).resolve().parents[1]


def append_n(log: AuditLog, n: int) -> None:
    for i in range(1, n + 1):
        log.append("operator-1", "cert.issue", f"serial:{i:02x}", {"n": i, "profile": "person"})


def seqs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))


# --- appending -----------------------------------------------------------------------------


def test_hash_follows_the_documented_encoding(store: Store) -> None:
    t = datetime(2025, 1, 31, 15, 0, tzinfo=timezone(timedelta(hours=7)))
    rec = store.audit.append("operator-1", "cert.issue", "serial:0a", {"b": "ü", "a": 1}, now=t)
    # Written out by hand from the spec: sorted keys, no spaces, raw UTF-8, UTC time with "Z".
    canonical = (
        '{"action":"cert.issue","actor":"operator-1","details":{"a":1,"b":"ü"},'
        '"object":"serial:0a","prev_hash":"' + "0" * 64 + '","seq":1,'
        '"time":"2025-01-31T08:00:00.000000Z"}'
    )
    assert rec.hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert rec.seq == 1
    assert rec.prev_hash == GENESIS_HASH
    assert rec.time == t and rec.time.tzinfo is UTC


def test_events_chain_and_read_back(store: Store) -> None:
    log = store.audit
    first = log.append("alice", "ca.create", "root-ca", {"key_spec": "RSA-4096"})
    second = log.append("bob", "cert.revoke", "serial:1f", {"reason": "keyCompromise"})
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    assert second.hash == event_hash(
        2, second.time, "bob", "cert.revoke", "serial:1f", {"reason": "keyCompromise"}, first.hash
    )
    newest = log.list()
    assert [r.seq for r in newest] == [2, 1]
    assert newest[0] == second  # what was hashed is what reads back, time included
    assert newest[0].time.tzinfo is UTC


def test_verify_intact_chain(store: Store) -> None:
    assert store.audit.verify().ok  # an empty log is intact
    append_n(store.audit, 5)
    result = store.audit.verify()
    assert (result.ok, result.count, result.first_bad_seq, result.reason) == (True, 5, None, None)


def test_append_in_the_callers_transaction(store: Store) -> None:
    with store.session() as s:
        s.add(Subscriber(kind="agency", name="Agency A", email="a@go.id"))
        store.audit.append("admin", "subscriber.create", "Agency A", session=s)
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(Subscriber(kind="agency", name="Agency B", email="b@go.id"))
        store.audit.append("admin", "subscriber.create", "Agency B", session=s)
        raise RuntimeError("the change fails after its audit event was written")
    # The rolled-back event took neither a sequence number nor the head with it.
    assert [s.name for s in store.list_subscribers()] == ["Agency A"]
    assert store.audit.append("admin", "next", "x").seq == 2
    assert store.audit.verify().ok


def test_audit_log_from_a_sessionmaker(store: Store) -> None:
    log = AuditLog(sessionmaker(store.engine))
    log.append("a", "b", "c")
    assert store.audit.verify().count == 1


def test_list_filters_and_pages(store: Store) -> None:
    log = store.audit
    for i in range(6):
        log.append("alice" if i % 2 else "bob", "cert.issue" if i < 4 else "cert.revoke", str(i))
    assert [r.seq for r in log.list(limit=2)] == [6, 5]
    assert [r.seq for r in log.list(limit=2, offset=2)] == [4, 3]
    assert [r.seq for r in log.list(action="cert.revoke")] == [6, 5]
    assert [r.seq for r in log.list(actor="alice")] == [6, 4, 2]
    assert [r.seq for r in log.list(action="cert.issue", actor="bob")] == [3, 1]


def test_naive_time_and_non_json_details_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.audit.append("a", "b", "c", now=datetime(2025, 1, 1))
    with pytest.raises(AuditError, match="plain JSON"):
        store.audit.append("a", "b", "c", {"when": datetime.now(UTC)})
    with pytest.raises(AuditError, match="plain JSON"):
        store.audit.append("a", "b", "c", {"x": float("nan")})
    assert store.audit.verify().count == 0


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("details", "path"),
    [
        ({"pin": "1"}, "details.pin"),
        ({"PIN": "1"}, "details.PIN"),
        ({"so_pin": "1"}, "details.so_pin"),
        ({"user_pin": "1"}, "details.user_pin"),
        ({"userPin": "1"}, "details.userPin"),
        ({"Passphrase": "1"}, "details.Passphrase"),
        ({"new_password": "1"}, "details.new_password"),
        ({"client_secret": "1"}, "details.client_secret"),
        ({"token_secret": "1"}, "details.token_secret"),
        ({"totp": "1"}, "details.totp"),
        ({"otp": "1"}, "details.otp"),
        ({"private_key": "1"}, "details.private_key"),
        (
            {"request": {"signer": [{"ok": 1}, {"user_pin": "1"}]}},
            "details.request.signer[1].user_pin",
        ),
    ],
)
def test_secret_keys_are_refused(store: Store, details: dict[str, object], path: str) -> None:
    secret_value = "hunter2-must-not-leak"
    details = json.loads(json.dumps(details).replace('"1"', json.dumps(secret_value)))
    with pytest.raises(AuditError) as err:
        store.audit.append("op", "login", "user", details)
    assert path in str(err.value)
    assert secret_value not in str(err.value)
    assert store.audit.verify().count == 0


def test_harmless_keys_that_contain_secret_words_are_allowed(store: Store) -> None:
    details = {"mapping": 1, "footprint": 2, "opinion": 3, "shipping": 4, "pinned_cert": 5}
    assert store.audit.append("op", "x", "y", details).details == details


# --- tamper detection ----------------------------------------------------------------------


def _edit(seq: int, **values: object) -> Callable[[Engine], None]:
    def tamper(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(**values))

    return tamper


def _shift_time(engine: Engine) -> None:
    with engine.begin() as conn:
        t = conn.scalar(select(AuditEvent.time).where(AuditEvent.seq == 3))
        conn.execute(
            update(AuditEvent).where(AuditEvent.seq == 3).values(time=t + timedelta(seconds=1))
        )


def _delete(seq: int) -> Callable[[Engine], None]:
    def tamper(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(delete(AuditEvent).where(AuditEvent.seq == seq))

    return tamper


def _truncate(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(AuditEvent))


def _swap_2_and_4(engine: Engine) -> None:
    fields = ["time", "actor", "action", "object", "details", "prev_hash", "hash"]
    with engine.begin() as conn:
        rows = {
            r.seq: r for r in conn.execute(select(AuditEvent).where(AuditEvent.seq.in_([2, 4])))
        }
        # Park 4's hash first: hashes are unique.
        conn.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(hash="x" * 64))
        for a, b in ((2, 4), (4, 2)):
            values = {f: getattr(rows[b], f) for f in fields}
            conn.execute(update(AuditEvent).where(AuditEvent.seq == a).values(**values))


def _edit_and_rehash(seq: int) -> Callable[[Engine], None]:
    """A careful attacker recomputes the edited event's hash: the next link (or, for the last
    event, the head) still gives it away."""

    def tamper(engine: Engine) -> None:
        with engine.begin() as conn:
            ev = conn.execute(select(AuditEvent).where(AuditEvent.seq == seq)).one()
            forged = event_hash(seq, ev.time, "mallory", ev.action, ev.object, {}, ev.prev_hash)
            conn.execute(
                update(AuditEvent)
                .where(AuditEvent.seq == seq)
                .values(actor="mallory", details="{}", hash=forged)
            )

    return tamper


def _rewind_head(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(update(AuditHead).values(last_seq=4))


TAMPERING = {
    "edit details": (_edit(3, details='{"n":99,"profile":"person"}'), 3, "edited"),
    "edit details to non-JSON": (_edit(3, details="{oops"), 3, "not valid JSON"),
    "edit actor": (_edit(3, actor="mallory"), 3, "edited"),
    "edit action": (_edit(3, action="cert.revoke"), 3, "edited"),
    "edit time": (_shift_time, 3, "edited"),
    "edit stored hash": (_edit(3, hash="f" * 64), 3, "edited"),
    "edit and rehash": (_edit_and_rehash(3), 4, "prev_hash"),
    "edit and rehash last": (_edit_and_rehash(5), 5, "head hash"),
    "delete middle": (_delete(3), 3, "event 3 is missing"),
    "delete first": (_delete(1), 1, "event 1 is missing"),
    "delete last": (_delete(5), 5, "event 5 is missing"),
    "delete all": (_truncate, 1, "event 1 is missing"),
    "swap two rows": (_swap_2_and_4, 2, "edited"),
    "rewind head": (_rewind_head, 5, "beyond the head"),
}


@pytest.mark.parametrize(
    ("tamper", "first_bad", "reason"), TAMPERING.values(), ids=TAMPERING.keys()
)
def test_tampering_is_detected(
    store: Store, tamper: Callable[[Engine], None], first_bad: int, reason: str
) -> None:
    append_n(store.audit, 5)
    assert store.audit.verify().ok
    tamper(store.engine)
    result = store.audit.verify()
    assert not result.ok
    assert result.first_bad_seq == first_bad
    assert reason in (result.reason or "")
    assert result.count == first_bad - 1


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_threads_keep_one_chain(store: Store) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(50):
                store.audit.append(f"thread-{n}", "test.append", str(i))
        except BaseException as ex:  # reported below, not lost in the thread
            errors.append(ex)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert seqs(store.engine) == list(range(1, 201))
    result = store.audit.verify()
    assert (result.ok, result.count) == (True, 200)


_CHILD = """
import sys, time
from pathlib import Path
from ca_core.store import Store

url, name, n, rendezvous = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = Store.open(url)
(rendezvous / name).touch()  # ready
while not (rendezvous / "go").exists():
    time.sleep(0.005)
start = time.time()
for i in range(n):
    store.audit.append(name, "test.append", str(i))
(rendezvous / name).write_text(f"{start} {time.time()}")
store.close()
"""


def test_concurrent_processes_keep_one_chain(store: Store, db_url: str, tmp_path: Path) -> None:
    names = ["process-0", "process-1"]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, db_url, name, "60", str(tmp_path)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    # Start both appending at the same moment, once both have imported and opened the store.
    deadline = time.monotonic() + 30
    while not all((tmp_path / n).exists() for n in names) and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    assert seqs(store.engine) == list(range(1, 121))
    assert store.audit.verify().ok
    # The two appenders really ran at the same time (SQLite's lock is not fair, so their
    # events need not interleave, but each one's appending overlapped the other's).
    windows = [[float(x) for x in (tmp_path / n).read_text().split()] for n in names]
    assert max(start for start, _ in windows) < min(end for _, end in windows)


# --- psre audit ----------------------------------------------------------------------------


@dataclass
class CliObj:
    """What the audit commands need from the Runtime: the real store and its audit log."""

    store: Store
    audit: AuditLog


def test_cli_verify_intact(store: Store) -> None:
    append_n(store.audit, 3)
    result = CliRunner().invoke(audit, ["verify"], obj=CliObj(store, store.audit))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "audit chain intact: 3 events"


def test_cli_verify_broken(store: Store) -> None:
    append_n(store.audit, 3)
    _edit(2, actor="mallory")(store.engine)
    result = CliRunner().invoke(audit, ["verify"], obj=CliObj(store, store.audit))
    assert result.exit_code == 1
    assert result.output.startswith("audit chain broken at sequence 2: ")


def test_cli_show(store: Store) -> None:
    append_n(store.audit, 3)
    store.audit.append("admin", "client.create", "portal", {"name": "Portal"})
    obj = CliObj(store, store.audit)
    text_out = CliRunner().invoke(audit, ["show", "--limit", "2"], obj=obj)
    assert text_out.exit_code == 0, text_out.output
    lines = text_out.output.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:4][0] == "4" and "client.create" in lines[0]
    assert '{"name":"Portal"}' in lines[0]

    json_out = CliRunner().invoke(audit, ["show", "--json", "--action", "cert.issue"], obj=obj)
    assert json_out.exit_code == 0, json_out.output
    events = json.loads(json_out.output)
    assert [e["seq"] for e in events] == [3, 2, 1]
    assert events[0]["details"] == {"n": 3, "profile": "person"}
    assert events[0]["time"].endswith("Z")
