"""Engine construction and column types shared by the store and the audit log.

SQLite is the zero-setup default and PostgreSQL the production database; both must give the
same guarantees to the code above them, so the SQLite engine is configured to behave like a
serialising database rather than failing under concurrent writers.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, DateTime, Delete, Engine, Update, create_engine, event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

# Re-exported: the store's default clock, defined once in ca_core.clock.
from ca_core.clock import utcnow as utcnow
from ca_core.store import sqlite_gate

#: Execution option marking an engine/connection whose transactions only read (see read_only).
_READ_ONLY = "psre_read_only"

#: SQLite waits this long for a lock before giving up: longer than any single write transaction.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def rows_changed(session: Session, stmt: Update | Delete) -> int:
    """Run an UPDATE/DELETE and return how many rows it matched (compare-and-set checks)."""
    result = session.execute(stmt)
    # Session.execute is typed as returning Result; DML always gives a CursorResult.
    assert isinstance(result, CursorResult)
    return result.rowcount


def make_engine(url: str | URL, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """Create an engine for ``url`` with psre's connection settings.

    SQLite: the database directory is created; WAL lets readers run beside the writer; every
    write transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers (threads or
    processes) queue on the busy timeout instead of failing with "database is locked" when a
    deferred transaction tries to upgrade its lock. This is SQLAlchemy's documented pysqlite
    recipe: the driver's own transaction handling is switched off and SQLAlchemy emits BEGIN.

    PostgreSQL (and anything else): ``pool_pre_ping`` so a restarted server costs one retry,
    not a failed request.
    """
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(u, pool_pre_ping=True)
    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        private_file(Path(u.database).expanduser())
    engine = create_engine(u)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not sqlite3, emits BEGIN
        cur = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching a fresh file to WAL needs a lock another process
            # may hold at that moment.
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA foreign_keys = ON")
            # Deleted rows (spent one-time codes, blanked documents) are overwritten with
            # zeros, not left readable in free pages of the file.
            cur.execute("PRAGMA secure_delete = ON")
        finally:
            cur.close()

    # Read-only transactions take no write lock, so they never queue behind writers (in WAL mode
    # a deferred BEGIN reads one consistent snapshot); writers take turns (store.sqlite_gate).
    sqlite_gate.install(
        engine,
        busy_timeout_ms,
        lambda conn: bool(conn.get_execution_options().get(_READ_ONLY)),
    )
    return engine


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with the directory itself 0700; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def private_file(path: Path) -> None:
    """Make sure the SQLite file exists as 0600 in a 0700 directory before SQLite opens it.

    SQLite creates a new file with the process umask (usually 0644: world-readable hashes, audit
    log and queued codes) and gives its -wal/-shm files the main file's mode, so the file is
    created here first. An existing file is tightened too.
    """
    # A directory that exists is left as it is (it may be shared, e.g. /tmp); `psre init`
    # tightens the data directory it owns.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def read_only(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) whose transactions read one consistent snapshot.

    On SQLite that is a deferred ``BEGIN`` (no write lock, see make_engine); on PostgreSQL a
    ``REPEATABLE READ READ ONLY`` transaction, so a multi-query read such as verifying the audit
    chain cannot see appends that commit half-way through.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_READ_ONLY: True})
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return engine


def describe_db_error(exc: DBAPIError) -> str:
    """A one-line description of a driver error.

    Only the first line of the driver's message is kept: PostgreSQL's DETAIL lines can quote
    whole rows, and row values (hashes, personal data) do not belong in error messages.
    """
    text = str(exc.orig).strip() or type(exc.orig).__name__
    return text.splitlines()[0]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always returned as an aware UTC datetime.

    Naive input is refused: a naive value's zone is a guess, and a guessed zone in a CA
    database (validity periods, revocation times, audit times) is a wrong certificate.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: give a timezone-aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
