"""``psre crl``: generate, show, and run the republishing loop in the foreground."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import click

from ca_core.cli_actor import cli_actor
from ca_core.cli_options import json_output

# crl.publish needs the models and the CRL builder: imported by the commands, not at start-up.
if TYPE_CHECKING:
    from typing import Protocol

    from ca_core.runtime import Runtime
    from crl.publish import CrlInfo, CrlPublisher

    class CrlServices(Runtime, Protocol):
        """What ``psre crl`` needs of a process's services: the runtime and its one CRL
        publisher (built by the composition root, psre.services)."""

        @property
        def crl_publisher(self) -> CrlPublisher: ...


def _echo(infos: list[CrlInfo]) -> None:
    for i in infos:
        click.echo(
            f"{i.name:<28} #{i.number:<6} {i.entries:>8} entries  "
            f"thisUpdate {i.this_update:%Y-%m-%dT%H:%M:%SZ}  "
            f"nextUpdate {i.next_update:%Y-%m-%dT%H:%M:%SZ}  sha256 {i.sha256[:16]}…"
        )


@click.group()
def crl() -> None:
    """Certificate revocation lists: generate, show, publish on a schedule."""


@crl.command("generate")
@click.option("--ca", "ca_name", default=None, help="Only this CA (default: every active CA).")
@click.pass_obj
def generate(rt: CrlServices, ca_name: str | None) -> None:
    """Sign and publish fresh CRLs now (complete, partitions, delta)."""
    from crl.publish import publish_all

    if ca_name:
        infos = rt.crl_publisher.publish(ca_name, actor=cli_actor())
    else:
        infos = publish_all(rt.crl_publisher, force=True)
        if not infos:
            raise click.ClickException("no CRL published (see the log)")
    _echo(infos)


@crl.command("show")
@click.option("--ca", "ca_name", default=None, help="Only this CA.")
@json_output
@click.pass_obj
def show(rt: Runtime, ca_name: str | None, as_json: bool) -> None:
    """The newest published CRL of each CA and scope."""
    from crl.publish import newest_crls

    issuer_id = rt.store.get_ca(ca_name).id if ca_name else None
    infos = newest_crls(rt.store, issuer_id)
    if as_json:
        rows = [
            {
                "name": i.name,
                "ca": i.ca,
                "kind": i.kind,
                "partition": None if i.partition < 0 else i.partition,
                "number": i.number,
                "base_number": i.base_number,
                "this_update": i.this_update.isoformat(),
                "next_update": i.next_update.isoformat(),
                "entries": i.entries,
                "sha256": i.sha256,
            }
            for i in infos
        ]
        click.echo(json.dumps(rows, indent=2))
    elif not infos:
        click.echo("no CRL published yet (psre crl generate)")
    else:
        _echo(infos)


@crl.command("daemon")
@click.option("--once", is_flag=True, help="One round, then exit (cron).")
@click.pass_obj
def daemon(rt: CrlServices, once: bool) -> None:
    """Re-publish CRLs when due and after status changes, in the foreground (cron; a running
    installation has psre refresher do it)."""
    from crl.scheduler import CrlScheduler

    scheduler = CrlScheduler(rt.crl_publisher)
    rt.attach_publishers()
    while True:
        _echo(scheduler.run_once())
        if once:
            return
        time.sleep(scheduler.poll_seconds)
