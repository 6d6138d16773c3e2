"""ca_core.store.sqlite_gate: SQLite writers take turns across threads and processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from ca_core.store import db

WRITES = 60


def _engine(path: Path, busy_ms: int = db.SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    return db.make_engine(f"sqlite:///{path}", busy_timeout_ms=busy_ms)


def _write(path: str, worker: int, threads: int) -> None:
    """``threads`` threads each commit WRITES read-modify-write transactions."""
    engine = _engine(Path(path))
    errors: list[BaseException] = []

    def loop(t: int) -> None:
        try:
            for i in range(WRITES):
                with engine.begin() as conn:
                    # Read, then write what was read + 1: only correct if writers never overlap.
                    n = conn.execute(text("SELECT n FROM counter")).scalar_one()
                    conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
                    conn.execute(
                        text("INSERT INTO log (worker, seq) VALUES (:w, :s)"),
                        {"w": f"{worker}.{t}", "s": i},
                    )
        except BaseException as ex:
            errors.append(ex)

    ts = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    engine.dispose()
    if errors:
        raise errors[0]


@pytest.fixture
def counter_db(tmp_path: Path) -> Path:
    path = tmp_path / "gate.sqlite3"
    engine = _engine(path)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
        conn.execute(text("CREATE TABLE log (worker TEXT, seq INTEGER)"))
    engine.dispose()
    return path


def test_threads_and_processes_take_turns_without_losing_a_write(counter_db: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write, args=(str(counter_db), w, 3)) for w in range(3)]
    for p in procs:
        p.start()
    _write(str(counter_db), 99, 2)  # and this process's threads at the same time
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    engine = _engine(counter_db)
    with engine.connect() as conn:
        total = (3 * 3 + 2) * WRITES
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == total
        assert conn.execute(text("SELECT count(*) FROM log")).scalar_one() == total
    engine.dispose()


def test_a_failed_transaction_gives_the_turn_back(counter_db: Path) -> None:
    engine = _engine(counter_db, busy_ms=2_000)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("UPDATE counter SET n = 41"))
        raise RuntimeError("application error inside the transaction")
    # Another thread gets the turn at once, and the failed write was rolled back.
    seen: list[int] = []

    def other() -> None:
        with engine.begin() as conn:
            seen.append(conn.execute(text("SELECT n FROM counter")).scalar_one())

    t = threading.Thread(target=other)
    t.start()
    t.join(5)
    assert seen == [0]
    engine.dispose()


def test_a_writer_nested_in_another_fails_clearly_instead_of_hanging(counter_db: Path) -> None:
    engine = _engine(counter_db, busy_ms=300)
    t0 = time.monotonic()
    with engine.begin() as outer:
        outer.execute(text("UPDATE counter SET n = 1"))
        with pytest.raises(OperationalError, match="no write turn"):
            with engine.begin() as inner:
                inner.execute(text("UPDATE counter SET n = 2"))
    assert time.monotonic() - t0 < 5
    with engine.begin() as conn:  # the outer transaction committed and the turn is free
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 1
    engine.dispose()


def test_readers_do_not_wait_for_a_writer(counter_db: Path) -> None:
    engine = _engine(counter_db, busy_ms=300)
    reader = db.read_only(engine)
    with engine.begin() as writer:
        writer.execute(text("UPDATE counter SET n = 7"))
        with reader.begin() as conn:  # a snapshot from before the write, no waiting
            assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 0
    engine.dispose()


def test_another_program_holding_the_lock_is_waited_for_then_passed(counter_db: Path) -> None:
    # A writer that does not use the gate (here a raw sqlite3 connection) holds the lock for a
    # while; ours retries BEGIN IMMEDIATE and gets in once it commits.
    import sqlite3

    raw = sqlite3.connect(counter_db, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("UPDATE counter SET n = 5")
    engine = _engine(counter_db, busy_ms=5_000)
    done: list[int] = []

    def ours() -> None:
        with engine.begin() as conn:
            n = conn.execute(text("SELECT n FROM counter")).scalar_one()
            conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
            done.append(n)

    t = threading.Thread(target=ours)
    t.start()
    time.sleep(0.3)
    assert done == []  # still waiting for the other program
    raw.execute("COMMIT")
    t.join(5)
    raw.close()
    assert done == [5]
    engine.dispose()
