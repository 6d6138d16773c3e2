"""A consistent copy of psre's database, and putting one back: the database part of a backup.

SQLite: the sqlite3 online backup API copies the database page by page while psre keeps
running (WAL readers and the writer are not stopped), giving one consistent snapshot.

PostgreSQL: ``pg_dump`` in custom format (``pg_restore`` reads it). When the URL selects a
schema through ``options=-csearch_path=…`` (how the tests isolate themselves, and a way to share
a database), only that schema is dumped, and restoring re-creates it; otherwise the whole
database. The dump runs in a snapshot exported by a transaction of our own, so the audit head and
CRL counters read here for the manifest are exactly those in the dump.

Passwords never go on a command line (``ps`` would show them): libpq reads PGPASSWORD.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from ca_core.errors import CaError
from ca_core.store.db import describe_db_error

#: Bounded time: a dump or restore that takes longer than this is stuck, not slow.
TIMEOUT_SECONDS = 3600


class SnapshotError(CaError):
    code = "snapshot_error"


@dataclass(frozen=True)
class Snapshot:
    """A database copy made by :func:`take`: the file, and what it held when taken."""

    path: Path
    dialect: str
    #: (last_seq, last_hash) of the audit chain inside the copy.
    audit_head: tuple[int, str]
    #: CA name -> last CRL number used, inside the copy.
    crl_numbers: dict[str, int]


_HEAD_SQL = "SELECT last_seq, last_hash FROM audit_head WHERE id = 1"
_CRL_SQL = (
    "SELECT ca.name, n.last_number FROM crl_numbers n"
    " JOIN certificate_authorities ca ON ca.id = n.issuer_id"
)


def take(url: str, out_dir: Path) -> Snapshot:
    """Write a consistent copy of the database at ``url`` into ``out_dir``."""
    u = make_url(url)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _db_errors():
        if u.get_backend_name() == "sqlite":
            return _take_sqlite(u, out_dir / "psre.sqlite3")
        if u.get_backend_name() == "postgresql":
            return _take_pg(u, out_dir / "psre.pgdump")
    raise SnapshotError(f"backup of a {u.get_backend_name()} database is not supported")


@contextmanager
def _db_errors() -> Iterator[None]:
    """Database errors as one clear line (never a traceback, never the URL's password)."""
    try:
        yield
    except DBAPIError as ex:
        raise SnapshotError(f"database: {describe_db_error(ex)}") from None
    except sqlite3.Error as ex:
        raise SnapshotError(f"SQLite: {ex}") from None


def _take_sqlite(u: URL, target: Path) -> Snapshot:
    source = Path(u.database or "")
    if not source.is_file():
        raise SnapshotError(f"no SQLite database at {source}")
    if target.resolve() == source.resolve():
        raise SnapshotError(f"the backup would overwrite the database itself ({source})")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # the online backup API: one consistent snapshot, psre keeps running
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
        head = dst.execute(_HEAD_SQL).fetchone()
        numbers = dict(dst.execute(_CRL_SQL).fetchall())
    finally:
        dst.close()
        src.close()
    if head is None:
        raise SnapshotError("the database has no audit head: not a psre database")
    return Snapshot(target, "sqlite", (int(head[0]), str(head[1])), numbers)


def _take_pg(u: URL, target: Path) -> Snapshot:
    schema = search_path_schema(u)
    engine = create_engine(u)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            head = conn.execute(text(_HEAD_SQL)).first()
            numbers = {r[0]: int(r[1]) for r in conn.execute(text(_CRL_SQL))}
            args = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges"]
            args += [f"--snapshot={snapshot_id}", f"--file={target}"]
            if schema:
                args.append(f"--schema={schema}")
            _run_pg(args, u)  # while our transaction holds the snapshot open
            conn.rollback()
    finally:
        engine.dispose()
    if head is None:
        raise SnapshotError("the database has no audit head: not a psre database")
    return Snapshot(target, "postgresql", (int(head[0]), str(head[1])), numbers)


def is_empty(url: str) -> bool:
    """True when ``url`` holds no psre database yet (no file, or no tables in the schema)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        p = Path(u.database or "")
        return not p.exists() or p.stat().st_size == 0
    engine = create_engine(u)
    try:
        with _db_errors(), engine.connect() as conn:
            schema = search_path_schema(u) or "public"
            n = conn.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalar_one()
        return int(n) == 0
    finally:
        engine.dispose()


def put_back(snapshot_file: Path, url: str, *, replace: bool) -> None:
    """Restore ``snapshot_file`` (made by :func:`take`) into the database at ``url``."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        target = Path(u.database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):  # a stale WAL would be replayed over the restored file
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        tmp = target.with_name(target.name + ".restoring")
        shutil.copyfile(snapshot_file, tmp)
        os.replace(tmp, target)
        return
    schema = search_path_schema(u)
    if schema and not replace:
        _drop_empty_schema(u, schema)  # pg_restore creates it, and refuses if it exists
    args = [
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
    ]
    if replace:
        args += ["--clean", "--if-exists"]
    _run_pg([*args, str(snapshot_file)], u)


def _drop_empty_schema(u: URL, schema: str) -> None:
    engine = create_engine(u.set(query={}))
    try:
        with engine.begin() as conn:
            tables = conn.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalar_one()
            if tables == 0:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}"'))
    finally:
        engine.dispose()


def search_path_schema(u: URL) -> str | None:
    """The schema a ``options=-csearch_path=NAME`` URL selects, if any."""
    options = u.query.get("options")
    if isinstance(options, tuple):
        options = " ".join(options)
    if not options:
        return None
    m = re.search(r"-c\s*search_path=([A-Za-z_][A-Za-z0-9_]*)", options)
    return m.group(1) if m else None


def _libpq_uri(u: URL) -> str:
    """The URL as libpq takes it: no SQLAlchemy driver suffix, no password."""
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _run_pg(args: list[str], u: URL) -> None:
    env = dict(os.environ)
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    tool = args[0]
    if shutil.which(tool) is None:
        raise SnapshotError(f"{tool} not found: install the PostgreSQL client (postgresql-client)")
    argv = [args[0], f"--dbname={_libpq_uri(u)}", *args[1:]]
    try:
        res = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise SnapshotError(f"{tool} did not finish within {TIMEOUT_SECONDS} s") from None
    if res.returncode != 0:
        raise SnapshotError(f"{tool} failed: {_first_lines(res.stderr)}")


def _first_lines(s: str, n: int = 3) -> str:
    return " / ".join(line for line in s.strip().splitlines()[:n]) or "(no message)"
