"""``psre outbox …``: the mail/SMS gateway's side of the default notifier (ca_core.notifier).

``take`` hands the gateway the waiting messages and removes them in the same transaction;
``sweep`` deletes messages whose code has expired (the refresher runs it too, so a code never
lingers in the database past its use).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ca_core.runtime import Runtime


@click.group("outbox")
def outbox() -> None:
    """Messages to signers (one-time codes, activation codes, lockout notices)."""


@outbox.command("take")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Take at most this many messages.",
)
@click.pass_obj
def take_cmd(rt: Runtime, limit: int) -> None:
    """Print waiting messages as JSON lines for delivery; they leave the outbox."""
    from ca_core.notifier import take

    for m in take(rt.store, limit, rt.clock()):
        line = {
            "recipient": m.recipient,
            "subject": m.subject,
            "body": m.body,
            "expires_at": m.expires_at.isoformat(),
        }
        click.echo(json.dumps(line, ensure_ascii=False))


@outbox.command("sweep")
@click.pass_obj
def sweep_cmd(rt: Runtime) -> None:
    """Delete messages whose code has expired."""
    from ca_core.notifier import sweep

    click.echo(f"removed {sweep(rt.store, rt.clock())} expired message(s)")
