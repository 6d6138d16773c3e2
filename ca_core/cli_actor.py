"""Who is acting when a ``psre`` command changes something: the audit log's actor for the CLI.

BR 5.4.1 wants every event traceable to a person. A shell command is run by an OS account, so
that account is always recorded (``os:<user>``); an operator working through a shared service
account names themselves with the global ``--actor`` option (or ``PSRE_ACTOR``), which is
recorded next to the account, never instead of it.
"""

from __future__ import annotations

import getpass
import os

import click

_META_KEY = "psre.actor"


def os_user() -> str:
    """The login name of the process's user (the uid if the system has no name for it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def actor_name(named: str | None, user: str | None = None) -> str:
    """``os:<user>``, or ``<named> (os:<user>)`` when the operator named themselves."""
    account = f"os:{user or os_user()}"
    named = (named or "").strip()
    if not named:
        return account
    if any(not c.isprintable() for c in named) or len(named) > 64:
        raise click.BadParameter("a printable name of at most 64 characters", param_hint="--actor")
    return f"{named} ({account})"


def set_cli_actor(ctx: click.Context, named: str | None) -> None:
    ctx.meta[_META_KEY] = actor_name(named)


def cli_actor() -> str:
    """The actor of the running ``psre`` command (set by the root group)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or _META_KEY not in ctx.meta:
        return actor_name(None)
    actor: str = ctx.meta[_META_KEY]
    return actor
