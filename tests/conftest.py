"""Shared pytest fixtures, in sections: database, HSM."""

from __future__ import annotations

import os
import secrets
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


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated Store on db_url, closed after the test."""
    s = Store.open(db_url)
    yield s
    s.close()


# --- HSM -----------------------------------------------------------------------------------
#
# A real SoftHSM2 token per test session (fixtures softhsm_conf, token, backend), defined in
# tests/hsm_support.py next to the helpers tests import from it.

pytest_plugins = ["tests.hsm_support", "tests.pki_support"]
