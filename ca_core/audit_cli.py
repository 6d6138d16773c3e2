"""``psre audit``: check and read the hash-chained audit log.

The commands take the Runtime from the click context (``ctx.obj``) and use its ``audit``.
``verify`` exits 1 when the chain is broken: "checked and found bad", distinct from the 2 the
top-level group uses for errors.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the audit module pulls in SQLAlchemy: only commands that read the log need it
    from ca_core.audit import AuditLog
    from ca_core.runtime import Runtime


def _audit() -> AuditLog:
    rt: Runtime = click.get_current_context().obj
    return rt.audit


@click.group()
def audit() -> None:
    """Verify and show the audit log."""


@audit.command()
@click.option(
    "--from-checkpoint",
    is_flag=True,
    help="Start after the newest checkpoint (its HSM MAC and hash checked): the daily run.",
)
@click.option(
    "--checkpoint",
    "record",
    is_flag=True,
    help="When the chain is intact, record a checkpoint (MAC by the HSM) at its last event.",
)
def verify(from_checkpoint: bool, record: bool) -> None:
    """Recompute the hash chain; exit 1 if any event was edited, removed or reordered."""
    if from_checkpoint or record:
        from ca_core.audit_checkpoint import verify as checked_verify

        rt: Runtime = click.get_current_context().obj
        walk = checked_verify(
            rt.store,
            rt.backend,
            from_checkpoint=from_checkpoint,
            record=record,
            now=rt.clock(),
        )
        result = walk.result
        if result.ok:
            since = f" (walked from checkpoint {walk.started_after})" if walk.started_after else ""
            mark = f"; checkpoint at {walk.recorded}" if walk.recorded else ""
            click.echo(f"audit chain intact: {result.count} events{since}{mark}")
            return
    else:
        result = _audit().verify()
    if result.ok:
        click.echo(f"audit chain intact: {result.count} events")
        return
    where = f" at sequence {result.first_bad_seq}" if result.first_bad_seq is not None else ""
    click.echo(f"audit chain broken{where}: {result.reason}")
    click.get_current_context().exit(1)


@audit.command()
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show at most this many events, newest first.",
)
@click.option("--action", default=None, help="Only events with this action.")
@click.option("--actor", default=None, help="Only events by this actor.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def show(limit: int, action: str | None, actor: str | None, as_json: bool) -> None:
    """Show the newest events first."""
    from ca_core.audit import canonical_json, format_time

    records = _audit().list(limit=limit, action=action, actor=actor)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2, ensure_ascii=False))
        return
    for r in records:
        click.echo(
            f"{r.seq:>6}  {format_time(r.time)}  {r.actor}  {r.action}  {r.object}  "
            f"{canonical_json(dict(r.details))}"
        )
