"""The read-only face on read-only connections (issue 17): SQLite ``query_only`` connections
that begin deferred, PostgreSQL's SELECT-only reader role (or read-only transactions where
that role cannot be made), and ``GET /crl`` reading beside a writer that holds SQLite's lock."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.db import reader_role_name
from tests.conftest import migrated_copy
from tests.crl_support import crl_pki
from tests.pki_support import Pki
from tests.web_support import make_app

_WRITE = text(
    "INSERT INTO blocked_keys (spki_sha256, reason, source, blocked_at) "
    "VALUES ('ab', 'keyCompromise', 't', CURRENT_TIMESTAMP)"
)


def _write_fails(ro: ReadOnlyStore) -> None:
    with pytest.raises(DBAPIError) as caught, ro.engine.begin() as conn:
        conn.execute(_WRITE)
    msg = str(caught.value.orig).lower()
    assert "readonly" in msg or "read-only" in msg or "permission denied" in msg, msg


def test_a_write_through_the_read_only_face_fails(store: Store, db_url: str) -> None:
    store.add_ca("root-ca", "CN=Root", "root-key", "RSA-4096")
    ro = ReadOnlyStore.open(db_url)
    try:
        assert ro.get_ca("root-ca").key_spec == "RSA-4096"
        _write_fails(ro)
        _write_fails(store.reader)  # the read-write store's own read-only face
        assert store.reader.get_ca("root-ca").name == "root-ca"
    finally:
        ro.close()
    assert store.blocked_keys() == frozenset()


SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PG_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@SQLITE_ONLY
def test_sqlite_reader_connection_is_query_only(store: Store) -> None:
    with store.reader.reading() as conn:
        assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 1


@PG_ONLY
def test_postgresql_reader_role(store: Store, db_url: str) -> None:
    store.add_ca("root-ca", "CN=Root", "root-key", "RSA-4096")
    line = store.ensure_reader_role()
    role = reader_role_name(db_url)
    assert line == f"database reader role {role} ready (SELECT only)"
    # A table a later migration adds (created by the main role) is readable too.
    with store.writing() as conn:
        conn.exec_driver_sql("CREATE TABLE later_table (x integer)")
        conn.exec_driver_sql("INSERT INTO later_table VALUES (7)")
    ro = ReadOnlyStore.open(db_url)
    try:
        with ro.reading() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == role
            assert conn.exec_driver_sql("SELECT x FROM later_table").scalar() == 7
        assert ro.get_ca("root-ca").name == "root-ca"
        assert ro.ping()["ok"] is True
        _write_fails(ro)
    finally:
        ro.close()


@PG_ONLY
def test_postgresql_without_the_reader_role_uses_read_only_transactions(
    db_url: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:

    migrated_copy(db_url, request)
    # A database the reader role cannot read (as after an init without CREATEROLE): a fresh
    # schema no init granted anything on.
    caplog.set_level(logging.WARNING, logger="ca_core.store.db")
    ro = ReadOnlyStore.open(db_url)
    try:
        with ro.reading() as conn:
            assert conn.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
        _write_fails(ro)
    finally:
        ro.close()
    assert any("read-only transactions of the main role" in r.message for r in caplog.records)
    assert make_url(db_url).password is None or all(
        make_url(db_url).password not in r.message for r in caplog.records
    )


@SQLITE_ONLY
def test_get_crl_does_not_take_the_sqlite_write_lock(pki: Pki, tmp_path: Path, db_url: str):
    """Another process holds SQLite's write lock: GET /crl still answers at once (it used to
    queue behind it with BEGIN IMMEDIATE for up to the busy timeout)."""
    cp = crl_pki(pki, tmp_path / "public")
    cp.publisher.publish(pki.issuing)
    client = make_app(pki, db_url).test_client()
    assert client.get(f"/crl/{pki.issuing}.crl").status_code == 200

    path = make_url(db_url).database
    assert path
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held like a long write elsewhere
    try:
        result: dict[str, object] = {}

        def fetch() -> None:
            start = time.monotonic()
            r = client.get(f"/crl/{pki.issuing}.crl")
            result.update(status=r.status_code, seconds=time.monotonic() - start)

        t = threading.Thread(target=fetch)
        t.start()
        t.join(timeout=10)
        assert not t.is_alive(), "GET /crl waited for the write lock"
        assert result["status"] == 200
        assert isinstance(result["seconds"], float) and result["seconds"] < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@PG_ONLY
def test_psre_init_creates_the_reader_role(db_url: str, tmp_path: Path) -> None:
    from tests.cli_support import PsreEnv

    site = PsreEnv(tmp_path / "site", {"PSRE_DATABASE_URL": db_url})
    site.root.mkdir()
    out = site.run("init", "--no-demo").stdout
    role = reader_role_name(db_url)
    assert f"database reader role {role} ready (SELECT only)" in out
    ro = ReadOnlyStore.open(db_url)
    try:
        with ro.reading() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == role
        assert ro.ping()["ok"] is True
        _write_fails(ro)
    finally:
        ro.close()
