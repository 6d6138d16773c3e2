"""Shared pytest fixtures, in sections: database, HSM."""

from __future__ import annotations

import io
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from ca_core.store import Store

# --- database ------------------------------------------------------------------------------
#
# Store tests run on SQLite always, and on PostgreSQL as well when PSRE_TEST_DATABASE_URL names
# a server (CI sets it). Each PostgreSQL test gets a schema of its own, selected through the
# URL's search_path option, so that code which only takes a URL (Store.open, subprocesses) is
# isolated too.

PG_URL_ENV = "PSRE_TEST_DATABASE_URL"


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_URL_ENV) else ["sqlite"]


def _pg_schema_url(base_url: str) -> Iterator[str]:
    """Create a fresh schema, yield a URL whose connections use it, then drop it."""
    schema = f"psre_t_{secrets.token_hex(6)}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as conn:
            # A connection a test forgot to close must fail the teardown, not hang it.
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'psre.sqlite3'}"
    else:
        yield from _pg_schema_url(os.environ[PG_URL_ENV])


# A migrated database is what most tests start from, and running the Alembic migrations for
# each of them costs a few hundred ms (more on PostgreSQL). So the migrations run once per
# session per backend, and each test gets a copy: on SQLite a copy of the migrated file, on
# PostgreSQL the same migrations' DDL as Alembic renders it (``upgrade head --sql``), executed in
# the test's fresh schema. Store.open then finds the schema at head. Tests of the migrations
# themselves (tests/test_store.py) migrate an empty db_url for real, and check that a copy made
# here has the same schema as a real migration.


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head by Store.open, to copy from."""
    path = tmp_path_factory.mktemp("template") / "psre.sqlite3"
    Store.open(f"sqlite:///{path}").close()  # the last connection closing folds the WAL in
    return path


@pytest.fixture(scope="session")
def pg_migration_sql() -> str:
    """The migrations to head as PostgreSQL DDL, without the BEGIN/COMMIT around them."""
    from alembic import command

    from ca_core.store.migrate import alembic_config

    buf = io.StringIO()
    cfg = alembic_config()
    cfg.output_buffer = buf
    cfg.set_main_option("sqlalchemy.url", os.environ[PG_URL_ENV].replace("%", "%%"))
    command.upgrade(cfg, "head", sql=True)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip() not in ("BEGIN;", "COMMIT;")]
    return "\n".join(lines)


def migrated_copy(db_url: str, request: pytest.FixtureRequest) -> None:
    """Make the empty database ``db_url`` a migrated one (see above)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        target = Path(url.database)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(request.getfixturevalue("pg_migration_sql"))
    finally:
        engine.dispose()


@pytest.fixture
def store(db_url: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated Store on db_url, closed after the test."""
    migrated_copy(db_url, request)
    s = Store.open(db_url)
    yield s
    s.close()


# --- HSM -----------------------------------------------------------------------------------
#
# A real SoftHSM2 token per test session (fixtures softhsm_conf, token, backend), defined in
# tests/hsm_support.py next to the helpers tests import from it.

pytest_plugins = ["tests.hsm_support", "tests.pki_support", "tests.fuzz_support"]


@pytest.fixture(autouse=True)
def _softhsm_conf_kept() -> Iterator[None]:
    """Put SOFTHSM2_CONF back after each test.

    A Runtime built in-process for a CLI installation (e.g. to serve its passphrase page)
    exports that installation's SoftHSM config. SoftHSM reads the variable again whenever the
    module is re-initialised — which psre does to recover from a lost token — and would then
    find the session's token gone ("no token labelled 'psre-test'") for every later test.
    """
    before = os.environ.get("SOFTHSM2_CONF")
    yield
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before
