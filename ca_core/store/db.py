"""Engine construction and column types shared by the store and the audit log.

SQLite is the zero-setup default and PostgreSQL the production database; both must give the
same guarantees to the code above them, so the SQLite engine is configured to behave like a
serialising database rather than failing under concurrent writers.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, DateTime, Delete, Engine, Update, create_engine, event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

# Re-exported: the store's default clock, defined once in ca_core.clock.
from ca_core.clock import utcnow as utcnow
from ca_core.store import sqlite_gate

log = logging.getLogger(__name__)

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


#: PostgreSQL drops a session that sits idle inside a transaction this long: a psre process
#: stopped, hung or cut off from the network mid-transaction would otherwise hold its row locks
#: (the CRL counter, the audit head) and stall every other host's writes until TCP gives up
#: (hours). No psre transaction waits on anything slow: HSM signing happens between them.
PG_IDLE_IN_TRANSACTION_MS = 60_000

#: TCP keepalives: a peer host that vanished is noticed in ~25 s, not the kernel's default two
#: hours — on our side (libpq parameters: a failed-over server) and on the server's (the same
#: values as session settings: a psre host that vanished mid-transaction). A URL that sets its
#: own libpq values keeps them.
PG_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def make_engine(
    url: str | URL,
    *,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    idle_in_transaction_ms: int = PG_IDLE_IN_TRANSACTION_MS,
) -> Engine:
    """Create an engine for ``url`` with psre's connection settings.

    SQLite: the database directory is created; WAL lets readers run beside the writer; every
    write transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers (threads or
    processes) queue on the busy timeout instead of failing with "database is locked" when a
    deferred transaction tries to upgrade its lock. This is SQLAlchemy's documented pysqlite
    recipe: the driver's own transaction handling is switched off and SQLAlchemy emits BEGIN.

    PostgreSQL: ``pool_pre_ping`` so a restarted server costs one retry, not a failed request;
    TCP keepalives and ``idle_in_transaction_session_timeout`` so that a vanished or stopped
    client's locks do not outlive it for long (PG_KEEPALIVES, PG_IDLE_IN_TRANSACTION_MS).
    """
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        return _postgresql_engine(u, idle_in_transaction_ms)
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


def _postgresql_engine(u: URL, idle_in_transaction_ms: int) -> Engine:
    keepalives = {k: v for k, v in PG_KEEPALIVES.items() if k not in u.query}
    engine = create_engine(u, pool_pre_ping=True, connect_args=keepalives)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        settings = {
            "idle_in_transaction_session_timeout": str(int(idle_in_transaction_ms)),
            "tcp_keepalives_idle": str(PG_KEEPALIVES["keepalives_idle"]),
            "tcp_keepalives_interval": str(PG_KEEPALIVES["keepalives_interval"]),
            "tcp_keepalives_count": str(PG_KEEPALIVES["keepalives_count"]),
        }
        with dbapi_connection.cursor() as cur:
            for name, value in settings.items():
                cur.execute("SELECT set_config(%(n)s, %(v)s, false)", {"n": name, "v": value})
        dbapi_connection.commit()  # a SET inside a transaction is undone by its rollback

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


def make_read_engine(
    url: str | URL,
    *,
    reader_url: str | URL | None = None,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> Engine:
    """An engine whose connections cannot write, for the store's read-only face.

    SQLite: its own pool of connections with ``PRAGMA query_only = ON`` whose transactions
    begin with a deferred ``BEGIN`` (a snapshot beside the writer, never the write lock). An
    in-memory database cannot be opened twice, so there the writer's pool is used, its
    transactions marked read-only (see read_only).

    PostgreSQL: ``reader_url`` when given (config ``database_reader_url``: a SELECT-only login,
    e.g. for a public host that holds no writer credentials); otherwise the main URL, with each
    connection switched to the SELECT-only role ``psre init`` makes (``<database>_reader``, see
    ensure_reader_role), or, where that role is missing or cannot read this schema, to
    ``default_transaction_read_only = on`` (logged once). Either way transactions are
    ``REPEATABLE READ READ ONLY``.
    """
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        if not u.database or u.database == ":memory:" or "mode=memory" in str(u):
            return read_only(make_engine(u, busy_timeout_ms=busy_timeout_ms))
        return _sqlite_reader(u, busy_timeout_ms)
    if backend != "postgresql":
        return read_only(make_engine(u))
    if reader_url:
        ru = make_url(reader_url)
        keep = {k: v for k, v in PG_KEEPALIVES.items() if k not in ru.query}
        return read_only(create_engine(ru, pool_pre_ping=True, connect_args=keep))
    keepalives = {k: v for k, v in PG_KEEPALIVES.items() if k not in u.query}
    engine = create_engine(u, pool_pre_ping=True, connect_args=keepalives)
    role = reader_role_name(u)
    fallback_logged: list[bool] = []

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cur:
            cur.execute(_CAN_USE_READER, {"role": role})
            row = cur.fetchone()
            if row is not None and row[0]:
                cur.execute(f'SET ROLE "{role}"')
            else:
                cur.execute("SET SESSION default_transaction_read_only = on")
                if not fallback_logged:
                    fallback_logged.append(True)
                    log.warning(
                        "database reader role %s missing or without access to this schema "
                        "(run `psre init` as the database owner to create it): read-only face "
                        "uses read-only transactions of the main role",
                        role,
                    )
        dbapi_connection.commit()  # a SET inside a transaction is undone by its rollback

    return read_only(engine)


# Whether this session may become the reader role and that role can read the schema: a role
# left by another database's init, without grants here, must not turn every read into an error.
_CAN_USE_READER = """
SELECT pg_has_role(current_user, r.oid, 'MEMBER')
   AND has_schema_privilege(r.oid, current_schema(), 'USAGE')
   AND COALESCE(has_table_privilege(
         r.oid, to_regclass(quote_ident(current_schema()) || '.alembic_version'), 'SELECT'),
       false)
FROM pg_roles r WHERE r.rolname = %(role)s
"""


def reader_role_name(url: str | URL) -> str:
    """The SELECT-only role of a PostgreSQL database: ``<database>_reader`` (letters, digits
    and underscores only)."""
    db = make_url(url).database or "psre"
    return re.sub(r"[^a-z0-9_]", "_", db.lower())[:50] + "_reader"


def ensure_reader_role(engine: Engine) -> str:
    """Create (or refresh) the SELECT-only role the read-only face uses on PostgreSQL; returns
    one line saying what was done. Idempotent; needs CREATEROLE (or superuser) and ownership of
    the schema's tables. Without the privilege nothing changes and the line says so (the
    read-only face then uses read-only transactions of the main role).

    The role cannot log in: the main role becomes a member and each reader connection does
    ``SET ROLE`` (no second password). Default privileges make the tables of later migrations,
    created by the main role, readable too.
    """
    if engine.dialect.name != "postgresql":
        return "read-only face: query_only connections (SQLite)"
    role = reader_role_name(engine.url)
    q = f'"{role}"'
    try:
        with engine.begin() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_roles WHERE rolname = %(role)s", {"role": role}
            ).first()
            if exists is None:
                conn.exec_driver_sql(f"CREATE ROLE {q} NOLOGIN")
            conn.exec_driver_sql(f"GRANT {q} TO CURRENT_USER")
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
            s = '"' + str(schema).replace('"', '""') + '"'
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {s} TO {q}")
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {q}")
            conn.exec_driver_sql(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO {q}"
            )
    except DBAPIError as ex:
        line = (
            f"database reader role {role} not created ({describe_db_error(ex)}): the "
            "read-only face uses read-only transactions of the main role"
        )
        log.warning("%s", line)
        return line
    return f"database reader role {role} ready (SELECT only)"


def _sqlite_reader(u: URL, busy_timeout_ms: int) -> Engine:
    if u.database and not u.database.startswith("file:"):
        path = Path(u.database).expanduser()
        # Only a file that does not exist yet: opening and closing a descriptor of the database
        # file drops every POSIX lock this process holds on it (SQLite's own connections'
        # included), and the writer beside this reader is usually connected already.
        if not path.exists():
            private_file(path)
    engine = create_engine(u)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not sqlite3, emits BEGIN
        cur = dbapi_connection.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys = ON")
            # Writes on this connection fail ("attempt to write a readonly database").
            cur.execute("PRAGMA query_only = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")  # deferred: a read snapshot, never the write lock

    return engine


def is_unavailable(exc: DBAPIError) -> bool:
    """Whether a driver error means the database is away (worth a retry) rather than that the
    statement or the schema was wrong: a connection SQLAlchemy found invalidated, a DBAPI
    InterfaceError, or an OperationalError — which on PostgreSQL means the connection (refused,
    lost, the server shutting down), while SQLite also raises it for "no such table", so there
    only a busy/locked database or a file it cannot open counts."""
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if type(exc.orig).__module__.startswith("sqlite3"):
        text = str(exc.orig).lower()
        return any(w in text for w in _SQLITE_AWAY)
    return True


#: SQLite's OperationalError messages that mean "not now" rather than "never".
_SQLITE_AWAY = ("database is locked", "database is busy", "unable to open", "disk i/o error")


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
