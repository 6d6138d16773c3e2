"""The refresher (ca_core/refresher.py): one process works under the database lease, work stops
before its next write once the lease is lost, and — with the real ``psre refresher`` processes
on SQLite and PostgreSQL — two at once means one works, and ``kill -9`` of the holder hands the
work to the other within ``refresher.lease_seconds`` plus a margin."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ca_core.refresher import LEASE_NAME, Chore, LeaseLost, Refresher
from ca_core.store import Store
from ca_core.store.leases import Leases
from tests.cli_support import PSRE, PsreEnv
from tests.conftest import PG_URL_ENV, _backends, _pg_schema_url

# --- in-process: the lease check inside a round ---------------------------------------------


def test_work_stops_before_its_next_write_once_the_lease_is_lost(store: Store, caplog):
    caplog.set_level("INFO", logger="ca_core.refresher")
    writes: list[str] = []
    r: Refresher

    def chore(check) -> None:
        check()
        writes.append("step 1")
        # Another host takes the lease (ours has run out as far as the database is concerned)
        # and our keeper renews: it learns the lease is gone.
        lease = Leases(store).holder(LEASE_NAME)
        assert lease is not None
        later = lease.expires_at + dt.timedelta(seconds=1)
        assert Leases(store).acquire(LEASE_NAME, "otherhost:1", dt.timedelta(seconds=60), later)
        r.keep()
        check()
        writes.append("step 2")  # never reached

    r = Refresher(Leases(store), [Chore("test chore", 60, chore)], lease_seconds=15, holder="me:1")
    r.keep()
    assert r.held()
    assert r.run_round() is False
    assert writes == ["step 1"]
    assert "refresher: lease acquired by me:1" in caplog.text
    assert "refresher: lease lost by me:1" in caplog.text
    assert "stopped before its next write" in caplog.text
    assert not r.held() and r.run_round() is False  # nothing runs without the lease


def test_a_holder_that_cannot_renew_stops_when_its_lease_may_have_run_out(store: Store):
    now = [1000.0]
    r = Refresher(Leases(store), [], lease_seconds=15, holder="me:1", clock=lambda: now[0])
    r.keep()
    r.check()  # held
    now[0] += 12.9  # renewals failed (database away): still inside lease - margin (2 s)
    r.check()
    now[0] += 0.2
    with pytest.raises(LeaseLost):
        r.check()


def test_standby_takes_over_a_released_lease_at_once(store: Store):
    a = Refresher(Leases(store), [], lease_seconds=15, holder="a:1")
    b = Refresher(Leases(store), [], lease_seconds=15, holder="b:2")
    a.keep()
    b.keep()
    assert a.held() and not b.held()
    a.release()
    b.keep()
    assert b.held() and not a.held()


# --- real processes: two refreshers, kill -9 of the holder ----------------------------------

LEASE_SECONDS = 6
#: Takeover may come this long after the lease ran out: the standby looks every second, then
#: starts its first round; the test polls the log every 0.1 s.
MARGIN = 2.5


@pytest.fixture(params=_backends())
def installation(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PsreEnv]:
    extra = {
        "PSRE_REFRESHER_LEASE_SECONDS": str(LEASE_SECONDS),
        "PSRE_CRL_POLL_SECONDS": "1",
        "PSRE_LOG_LEVEL": "DEBUG",
    }
    if request.param == "sqlite":
        env = PsreEnv(tmp_path, extra)
        env.run("init", "--no-demo")
        yield env
        return
    for url in _pg_schema_url(os.environ[PG_URL_ENV]):
        env = PsreEnv(tmp_path, {**extra, "PSRE_DATABASE_URL": url})
        env.run("init", "--no-demo")
        yield env


def _start(env: PsreEnv, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    try:
        return subprocess.Popen(
            [*PSRE, "refresher"], cwd=env.root, env=env.env(), stdout=out, stderr=out
        )
    finally:
        out.close()


def _wait(cond, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def _status(env: PsreEnv) -> dict:
    return json.loads(env.run("refresher", "status", "--json").stdout)


def test_two_refreshers_one_works_and_the_other_takes_over_a_killed_holder(
    installation: PsreEnv, tmp_path: Path
):
    env = installation
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_start(env, logs[0])]
    try:
        assert _wait(lambda: "lease acquired" in logs[0].read_text(), 60), logs[0].read_text()
        procs.append(_start(env, logs[1]))
        assert _wait(lambda: "stands by" in logs[1].read_text(), 60), logs[1].read_text()
        time.sleep(3)  # both running: rounds happen, all of them in the holder
        a, b = (p.pid for p in procs)
        texts = [log.read_text() for log in logs]
        holder_a = _status(env)["holder"]
        assert holder_a.endswith(f":{a}") and _status(env)["live"] is True
        assert f"{holder_a} ran CRL publication" in texts[0]
        assert " ran " not in texts[1] and "lease acquired" not in texts[1], texts[1]
        assert f"refresher: lease held by {holder_a}; " in texts[1]
        # kill -9 of the holder: it releases nothing, its lease has to run out.
        os.kill(a, signal.SIGKILL)
        procs[0].wait()
        killed = time.monotonic()
        old = _status(env)
        assert old["holder"] == holder_a
        took = _wait(lambda: "lease acquired" in logs[1].read_text(), LEASE_SECONDS + 10)
        after = time.monotonic() - killed
        assert took, logs[1].read_text()
        assert after <= LEASE_SECONDS + MARGIN, after
        new = _status(env)
        assert new["holder"].endswith(f":{b}") and new["live"] is True
        # Never two holders: the new lease began after the old one had run out (database time).
        assert new["acquired_at"] >= old["expires_at"], (old, new)
        assert _wait(lambda: f"{new['holder']} ran CRL publication" in logs[1].read_text(), 10)
        print(f"holder killed; the standby took over after {after:.2f} s (lease {LEASE_SECONDS} s)")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)
    # A refresher stopped with SIGTERM gives its lease back at once.
    assert "lease released by" in logs[1].read_text()
    assert _status(env)["live"] is False


def test_once_does_one_round_or_nothing_while_another_holds_the_lease(installation: PsreEnv):
    env = installation
    first = env.run("refresher", "--once")
    assert "lease acquired by" in first.stderr and "ran CRL publication" in first.stderr
    assert "lease released by" in first.stderr
    holder = Leases(Store.open(env.env().get("PSRE_DATABASE_URL") or _sqlite(env)))
    try:
        assert holder.acquire(LEASE_NAME, "otherhost:1", dt.timedelta(seconds=60))
        second = env.run("refresher", "--once")
        assert "refresher: lease held by otherhost:1; nothing done" in second.stderr
        assert " ran " not in second.stderr
        text = env.run("refresher", "status").stdout
        assert text.startswith("refresher lease: held by otherhost:1 (acquired ")
    finally:
        holder.rw.close()


def _sqlite(env: PsreEnv) -> str:
    return f"sqlite:///{env.root / 'var' / 'psre.sqlite3'}"


def test_refresher_runs_in_a_thread_until_stopped(store: Store):
    ran = threading.Event()
    r = Refresher(
        Leases(store), [Chore("x", 0.1, lambda check: ran.set())], lease_seconds=15, holder="t:1"
    )
    stop = threading.Event()
    t = threading.Thread(target=r.run, args=(stop,))
    t.start()
    try:
        assert ran.wait(10)
    finally:
        stop.set()
        t.join(10)
    lease = Leases(store).holder(LEASE_NAME)
    assert lease is not None and not lease.live  # released on the way out
