"""``psre operator …``: console accounts from the command line (the first admin comes from here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ca_core.cli_actor import cli_actor
from ca_core.cli_options import json_output
from ca_core.names import OPERATOR_ROLES

# web.operators needs the models (SQLAlchemy): imported by the commands, not at start-up.
if TYPE_CHECKING:
    from ca_core.runtime import Runtime


@click.group("operator")
def operator() -> None:
    """Operator accounts of the web console."""


@operator.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(OPERATOR_ROLES),
    required=True,
    help="What the operator may do in the console.",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Read the password from this file (first line) instead of prompting.",
)
@click.pass_obj
def add(rt: Runtime, name: str, role: str, password_file: str | None) -> None:
    """Create operator NAME; the password is prompted for (twice) unless given in a file."""
    from web.operators import add_operator

    if password_file:
        lines = Path(password_file).read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    add_operator(rt.store, name, role, password, actor=cli_actor())
    click.echo(f"operator {name} added with role {role}")


@operator.command("list")
@json_output
@click.pass_obj
def list_cmd(rt: Runtime, as_json: bool) -> None:
    """List the console's operators with their roles."""
    from web.operators import list_operators

    ops = list_operators(rt.store)
    rows = [{"name": o.name, "role": o.role, "enabled": o.enabled} for o in ops]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        click.echo(f"{r['name']}\t{r['role']}\t{'enabled' if r['enabled'] else 'disabled'}")


@operator.command("disable")
@click.argument("name")
@click.pass_obj
def disable(rt: Runtime, name: str) -> None:
    """Disable operator NAME: their sessions end and they cannot sign in."""
    from web.operators import set_enabled

    set_enabled(rt.store, name, False, actor=cli_actor(), clock=rt.clock)
    click.echo(f"operator {name} disabled")


@operator.command("enable")
@click.argument("name")
@click.pass_obj
def enable(rt: Runtime, name: str) -> None:
    """Re-enable the disabled operator NAME (e.g. the admin whose colleague left)."""
    from web.operators import set_enabled

    set_enabled(rt.store, name, True, actor=cli_actor(), clock=rt.clock)
    click.echo(f"operator {name} enabled")
