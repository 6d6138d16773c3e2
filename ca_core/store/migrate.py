"""Run the Alembic migrations shipped inside the package, without an alembic.ini.

Opening the store upgrades the schema to head, so a fresh install and an upgraded one need no
separate migration step. Upgrading is idempotent and safe to run from several processes at
once (the migration transaction is serialised, see migrations/env.py).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from ca_core.store.db import make_engine, read_only

# Alembic (and its DDL modules for every dialect) costs ~0.3 s to import; every psre process
# opens the store, and almost always finds the schema at head already. So it is imported only
# when there is something to migrate or a caller asks Alembic itself (see upgrade()).
if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_REVISION_LINE = re.compile(r"""^(down_revision|revision)\b[^=]*=\s*(?:"([^"]*)"|'([^']*)'|None)""")


def alembic_config() -> Config:
    """An Alembic config pointing at the package's migration scripts."""
    from alembic.config import Config

    cfg = Config()
    # Config values go through ConfigParser interpolation: escape '%' in the path.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return cfg


@cache
def script_head() -> str | None:
    """The newest revision of the shipped scripts, read from their ``revision`` and
    ``down_revision`` lines without importing Alembic; None unless there is exactly one head
    (then only Alembic decides). A test checks this against Alembic's own answer."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found: dict[str, str | None] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _REVISION_LINE.match(line)
            if m and m.group(1) not in found:
                found[m.group(1)] = m.group(2) or m.group(3)
        if "revision" not in found or "down_revision" not in found:
            continue  # not a revision script (e.g. __init__.py)
        if found["revision"] is None:
            return None
        revisions.add(found["revision"])
        if found["down_revision"] is not None:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """True if the database already records the scripts' single head revision."""
    head = script_head()
    if head is None:
        return False
    try:
        with read_only(engine).connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return False  # no alembic_version table yet: a fresh database
    return [r[0] for r in rows] == [head]


def upgrade(engine_or_url: Engine | str) -> None:
    """Upgrade the database to the newest revision (``alembic upgrade head``)."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        if _at_head(engine):
            return  # what `alembic upgrade head` would conclude, without loading Alembic
        from alembic import command

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
    from alembic.runtime.migration import MigrationContext

    with read_only(engine).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
