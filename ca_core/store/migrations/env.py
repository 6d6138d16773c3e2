"""Alembic environment of psre.

psre itself calls this through ca_core.store.migrate, passing an open connection in
``config.attributes["connection"]``. The alembic command line works too (see alembic.ini): the
URL then comes from ``-x url=…`` or the ``sqlalchemy.url`` option, and ``--sql`` prints the DDL
for a DBA instead of running it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from ca_core.store.db import make_engine
from ca_core.store.models import Base

config = context.config
target_metadata = Base.metadata

#: pg_advisory_xact_lock key serialising concurrent migrators (e.g. gunicorn workers starting
#: together); any constant unique to psre will do.
_PG_MIGRATION_LOCK = 0x70737265  # "psre"


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=… or set sqlalchemy.url")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # make_engine's SQLite engines emit BEGIN themselves, so DDL is transactional there too:
        # a failed migration leaves nothing half-done.
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # SQLite needs no lock: BEGIN IMMEDIATE already serialises migrators.
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
