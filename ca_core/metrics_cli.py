"""``psre metrics serve``: the Prometheus listener (started by ``psre serve``)."""

from __future__ import annotations

import click

from ca_core.runtime import Runtime


@click.group()
def metrics() -> None:
    """Prometheus metrics (metrics.listen)."""


@metrics.command("serve")
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    hidden=True,
    help="Stop when this process (the psre serve that started it) is gone.",
)
@click.pass_obj
def serve(rt: Runtime, parent_pid: int | None) -> None:
    """Serve the Prometheus /metrics page on metrics.listen until stopped (psre serve
    starts it)."""
    from ca_core.metrics import serve_metrics

    if not rt.config.metrics.listen:
        raise click.ClickException("metrics.listen is empty: no listener configured")
    try:
        serve_metrics(rt.store, rt.config, parent_pid=parent_pid, clock=rt.clock)
    except OSError as ex:
        raise click.ClickException(f"cannot listen on {rt.config.metrics.listen}: {ex}") from ex
