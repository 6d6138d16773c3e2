"""Run the Alembic migrations shipped inside the package, without an alembic.ini.

Opening the store upgrades the schema to head, so a fresh install and an upgraded one need no
separate migration step. Upgrading is idempotent and safe to run from several processes at
once (the migration transaction is serialised, see migrations/env.py).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from ca_core.db import make_engine, read_only

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic config pointing at the package's migration scripts."""
    cfg = Config()
    # Config values go through ConfigParser interpolation: escape '%' in the path.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return cfg


def upgrade(engine_or_url: Engine | str) -> None:
    """Upgrade the database to the newest revision (``alembic upgrade head``)."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        cfg = alembic_config()
        # One transaction for the whole upgrade: all revisions apply, or none.
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with read_only(engine).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
