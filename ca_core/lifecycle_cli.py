"""``psre lifecycle run``: expiry and expiry notices now (what ``psre serve`` does periodically)."""

from __future__ import annotations

import click

from ca_core.runtime import Runtime


@click.group("lifecycle")
def lifecycle_group() -> None:
    """Certificate lifecycles: expiry, notices before expiry."""


@lifecycle_group.command("run")
@click.pass_obj
def lifecycle_run(rt: Runtime) -> None:
    """Mark subscribers whose certificates all ran out EXPIRED; send due expiry notices."""
    from ca_core import lifecycle

    report = lifecycle.run(rt)
    click.echo(
        f"{report.expired} subscriber(s) marked EXPIRED; {len(report.notices)} expiry notice(s)"
        f" sent ({rt.config.lifecycle.expiry_notice_days} days ahead)"
    )
    for n in report.notices:
        click.echo(f"  notice: {n}")


ALL = (lifecycle_group,)
