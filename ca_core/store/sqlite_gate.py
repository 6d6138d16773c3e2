"""How psre's SQLite transactions begin: one writer at a time, handed over without long sleeps.

SQLite lets one transaction write at a time. A writer that finds the lock taken waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10 … up to 100 ms between tries, so a writer that
has lost a few rounds sleeps long enough for the others to take the lock again and again. With
two worker processes issuing certificates that cut throughput to below one process's.

So a write transaction here
1. queues on a lock shared by the threads of this process (they wake one another at once), held
   from just before ``BEGIN IMMEDIATE`` to just after ``COMMIT``/``ROLLBACK``;
2. then tries ``BEGIN IMMEDIATE`` with SQLite's busy handler off, and while another process
   holds the write lock, tries again after at most a millisecond, until the busy timeout.
Read-only transactions take neither: in WAL mode they read a snapshot beside the writer.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

#: Longest pause between two tries of BEGIN IMMEDIATE while another process writes.
MAX_PAUSE_S = 0.001


class GateTimeout(sqlite3.OperationalError):
    """No write turn within the busy timeout (a writer nested inside another on one thread, or
    a transaction far longer than any psre runs). A driver error, so the store reports it as a
    database error like SQLite's own "database is locked"."""


def install(engine: Engine, busy_timeout_ms: int, is_read_only: Callable[[Any], bool]) -> None:
    """Make ``engine`` (SQLite, driver transactions off) begin its transactions as above."""
    timeout_s = busy_timeout_ms / 1000
    turn = threading.Lock()
    holders: set[int] = set()  # id() of the DBAPI connections in a write transaction
    holders_lock = threading.Lock()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if is_read_only(conn):
            conn.exec_driver_sql("BEGIN")
            return
        deadline = time.monotonic() + timeout_s
        try:
            if not turn.acquire(timeout=timeout_s):
                raise GateTimeout(f"no write turn on the database within {timeout_s:g} s")
        except sqlite3.Error as ex:
            raise OperationalError("BEGIN IMMEDIATE", (), ex) from ex
        dbapi = conn.connection.dbapi_connection
        try:
            _begin_immediate(dbapi, deadline, busy_timeout_ms)
        except BaseException as ex:
            turn.release()
            if isinstance(ex, sqlite3.Error):
                # As SQLAlchemy reports a failed statement, so callers see one kind of error.
                raise OperationalError("BEGIN IMMEDIATE", (), ex) from ex
            raise
        with holders_lock:
            holders.add(id(dbapi))

    def _give_back(connection: Any) -> None:
        # SQLAlchemy passes the pool's proxy here and the driver's connection to pool events.
        key = id(getattr(connection, "dbapi_connection", connection))
        with holders_lock:
            held = key in holders
            holders.discard(key)
        if held:
            turn.release()

    dialect = engine.dialect
    real_commit, real_rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            real_commit(dbapi_connection)
        finally:
            _give_back(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            real_rollback(dbapi_connection)
        finally:
            _give_back(dbapi_connection)

    # The dialect object belongs to this engine alone, so wrapping its methods changes nothing
    # else; SQLAlchemy's commit/rollback events fire *before* the DBAPI call, too early.
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    @event.listens_for(engine, "invalidate")
    def _lost(dbapi_connection: Any, _record: Any, _exc: Any) -> None:
        _give_back(dbapi_connection)  # a broken connection has ended its transaction

    @event.listens_for(engine, "close")
    def _closed(dbapi_connection: Any, _record: Any) -> None:
        _give_back(dbapi_connection)


def _begin_immediate(dbapi: sqlite3.Connection, deadline: float, busy_timeout_ms: int) -> None:
    """BEGIN IMMEDIATE, retried every ≤ MAX_PAUSE_S while another process holds the lock."""
    pause = 0.0001
    dbapi.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                dbapi.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as ex:
                if "locked" not in str(ex) and "busy" not in str(ex):
                    raise
                if time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)
    finally:
        dbapi.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
