"""``psre client …``: the applications allowed to call the e-sign API (HTTP Basic)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import click

from ca_core.cli_actor import cli_actor
from ca_core.cli_options import json_output
from signing_api.pdf_sign import LEVELS

# The models and web.clients need SQLAlchemy: imported by the commands, not at start-up.
if TYPE_CHECKING:
    from ca_core.runtime import Runtime
    from ca_core.store import Store


def username_for(name: str) -> str:
    """A login name from an app's display name: ``"siMAYA Kemenkeu"`` → ``simaya-kemenkeu``."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")
    if not slug or not slug[0].isalpha():
        slug = f"app-{slug}"
    return slug[:64].ljust(3, "0")


def configure_client(
    store: Store, username: str, *, level: str | None, rate_limit: int | None, actor: str
) -> None:
    """Set a client app's default PAdES level and its own rate limit (None leaves one as is)."""
    from ca_core.store.client_apps import ClientApps
    from web.clients import ClientError

    try:
        ClientApps(store).configure(username, level=level, rate_limit=rate_limit, actor=actor)
    except ValueError as ex:
        raise ClientError(str(ex)) from None


@click.group("client")
def client_group() -> None:
    """Client applications of the e-sign API (siMAYA, PNSMail, …)."""


@client_group.command("add")
@click.argument("name")
@click.option("--username", default=None, help="Login name (default: made from NAME).")
@click.option("--level", type=click.Choice(LEVELS), default=None, help="Default PAdES level.")
@click.option("--rate-limit", type=int, default=None, help="Signing requests per minute.")
@click.option("--json", "as_json", is_flag=True, help='Print {"username": …, "password": …}.')
@click.pass_obj
def client_add(
    rt: Runtime,
    name: str,
    username: str | None,
    level: str | None,
    rate_limit: int | None,
    as_json: bool,
) -> None:
    """Create a client app called NAME; its password is printed once and stored only as
    a hash."""
    from web.clients import create_client

    new = create_client(rt.store, name, username or username_for(name), actor=cli_actor())
    if level is not None or rate_limit is not None:
        configure_client(
            rt.store, new.client.username, level=level, rate_limit=rate_limit, actor=cli_actor()
        )
    if as_json:
        click.echo(json.dumps({"username": new.client.username, "password": new.secret}))
        return
    click.echo(f"client {new.client.name} added")
    click.echo(f"username: {new.client.username}")
    click.echo(f"password: {new.secret}")
    click.echo("(the password is shown only now)")


@client_group.command("list")
@json_output
@click.pass_obj
def client_list(rt: Runtime, as_json: bool) -> None:
    """List the client apps of the e-sign API."""
    from web.clients import list_clients

    rows = [
        {
            "name": c.name,
            "username": c.username,
            "enabled": c.enabled,
            "default_level": c.default_level,
            "rate_limit_per_minute": c.rate_limit_per_minute,
            "created_at": c.created_at.isoformat(),
        }
        for c in list_clients(rt.store)
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        state = "enabled" if r["enabled"] else "disabled"
        click.echo(f"{r['username']}\t{r['name']}\t{state}\t{r['default_level'] or '-'}")


@client_group.command("set")
@click.argument("username")
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default=None,
    help="Default PAdES level of the client's signatures.",
)
@click.option("--rate-limit", type=int, default=None, help="0: no limit of its own.")
@click.pass_obj
def client_set(rt: Runtime, username: str, level: str | None, rate_limit: int | None) -> None:
    """Change client app USERNAME's default level or rate limit."""
    configure_client(rt.store, username, level=level, rate_limit=rate_limit, actor=cli_actor())
    click.echo(f"client {username} updated")


@client_group.command("disable")
@click.argument("username")
@click.pass_obj
def client_disable(rt: Runtime, username: str) -> None:
    """Refuse client app USERNAME's credentials from now on (every worker checks on
    each request)."""
    from web.clients import set_client_enabled

    client = rt.store.get_client(username)
    set_client_enabled(rt.store, client.id, False, actor=cli_actor())
    click.echo(f"client {username} disabled")
