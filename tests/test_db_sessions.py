"""What psre's database sessions do when something is away (issue 18's cluster findings): a
client stopped or cut off inside a transaction loses its PostgreSQL session, and its locks,
after ``idle_in_transaction_session_timeout``; TCP keepalives are on; and only the errors that
mean "the database is away" count as unavailable (503), on PostgreSQL and SQLite alike."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ca_core.store.db import PG_KEEPALIVES, is_unavailable, make_engine
from tests.conftest import PG_URL_ENV, _pg_schema_url


def _error(engine, sql: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(sql))
    return caught.value


@pytest.fixture(params=["postgresql"] if os.environ.get(PG_URL_ENV) else [])
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _pg_schema_url(os.environ[PG_URL_ENV])


def test_a_session_idle_in_a_transaction_is_dropped_and_its_locks_with_it(pg_url: str):
    db_url = pg_url
    engine = make_engine(db_url, idle_in_transaction_ms=500)
    other = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE counter (id int PRIMARY KEY, n int)"))
            conn.execute(text("INSERT INTO counter VALUES (1, 0)"))
            server_side = conn.execute(text("SHOW tcp_keepalives_idle")).scalar_one()
            ours = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        idle = str(PG_KEEPALIVES["keepalives_idle"])
        assert server_side.removesuffix("s") == idle, server_side
        assert ours.get("keepalives_idle") == idle and ours.get("keepalives") == "1", ours
        stuck = engine.connect()
        # The row lock a CRL number allocation holds, then the process stops (SIGSTOP, a cut
        # cable): nothing more is sent on this connection.
        stuck.execute(text("SELECT n FROM counter WHERE id = 1 FOR UPDATE"))
        t0 = time.monotonic()
        with other.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        waited = time.monotonic() - t0
        assert waited < 5, waited  # the server ended the idle session and freed the row
        with pytest.raises(DBAPIError) as caught:
            stuck.execute(text("SELECT 1"))
        assert is_unavailable(caught.value), caught.value
        stuck.invalidate()
        stuck.close()
    finally:
        engine.dispose()
        other.dispose()


def test_only_a_database_that_is_away_counts_as_unavailable(db_url: str, tmp_path: Path):
    engine = make_engine(db_url, busy_timeout_ms=200)
    try:
        wrong = _error(engine, "SELECT * FROM no_such_table")
        assert not is_unavailable(wrong), wrong  # a fault of ours: 4xx/5xx, not "retry"
        if not db_url.startswith("sqlite"):
            return
        path = db_url.removeprefix("sqlite:///")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x int)"))
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            busy = _error(engine, "INSERT INTO t VALUES (1)")
            assert "locked" in str(busy).lower(), busy
            assert is_unavailable(busy), busy
        finally:
            holder.rollback()
            holder.close()
    finally:
        engine.dispose()
