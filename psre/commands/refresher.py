"""``psre refresher``: the refresher's chores wired from the configuration, and its commands.

Part of the composition root (psre/): it names the work of every package — CRL
publication (crl/), OCSP pre-signing (ocsp/), subscriber expiry and notices
(ca_core/lifecycle.py), orphaned-key sweeps (ca_core/orphans.py), the outbox sweep
(ca_core/notifier.py) — and hands it to the lease-holding loop in ca_core/refresher.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ca_core.cli_options import json_output
from ca_core.refresher import LEASE_NAME, Check, Chore, Refresher

if TYPE_CHECKING:
    from ca_core.runtime import Runtime
    from psre.services import Services

log = logging.getLogger(__name__)

#: The actor of the refresher's audit events (orphaned keys removed).
ACTOR = "psre-refresher"


def chores(rt: Services) -> list[Chore]:
    """The background work of an installation, most urgent first."""
    cfg = rt.config
    out: list[Chore] = []
    if cfg.crl.scheduler:
        out.append(Chore("CRL publication", cfg.crl.poll_seconds, lambda check: _crls(rt, check)))
    from ocsp.refresh import OcspFollow, OcspRefresh

    # The presigner is asked for at the first round: setting up opens no key backend.
    follow = OcspFollow(rt.store, lambda: rt.presigner, clock=rt.clock)
    out.append(Chore("OCSP status feed", cfg.ocsp.follow_seconds, follow))
    refresh = OcspRefresh(lambda: rt.presigner)
    out.append(Chore("OCSP pre-signing", cfg.ocsp.presign_interval_seconds, refresh))
    out.append(
        Chore(
            "subscriber lifecycle",
            cfg.lifecycle.check_minutes * 60.0,
            lambda check: _lifecycle(rt, check),
        )
    )
    out.append(Chore("outbox sweep", cfg.crl.poll_seconds, lambda check: _outbox(rt, check)))
    if cfg.hsm.orphan_sweep_minutes > 0:
        out.append(
            Chore(
                "orphaned key sweep",
                cfg.hsm.orphan_sweep_minutes * 60.0,
                lambda check: _orphans(rt, check),
            )
        )
    return out


def refresher_for(
    rt: Services, holder: str | None = None, heartbeat: Path | None = None
) -> Refresher:
    from ca_core.store.leases import Leases

    return Refresher(
        Leases(rt.store),
        chores(rt),
        lease_seconds=rt.config.refresher.lease_seconds,
        holder=holder,
        beat=heartbeat.touch if heartbeat is not None else (lambda: None),
    )


def heartbeat_path(data_dir: Path) -> Path:
    """The file a supervised refresher touches (one per ``psre serve``: its pid in the name)."""
    return data_dir / "run" / f"refresher-{os.getpid()}.beat"


def stale_after(rt: Runtime) -> float:
    """How long a supervised refresher's beat may stand still before it is killed: two leases
    (its keeper beats every third of one), so only a stopped or hung process gets there."""
    return max(10.0, 2 * rt.config.refresher.lease_seconds)


def _crls(rt: Services, check: Check) -> None:
    from crl.publish import publish_all

    for info in publish_all(rt.crl_publisher, before_each=check):
        log.info("refresher: published CRL %s #%d", info.name, info.number)


def _lifecycle(rt: Services, check: Check) -> None:
    from ca_core import lifecycle
    from ca_core.notifier import notifier_for

    report = lifecycle.run(
        rt.store,
        notifier_for(rt.store, rt.config.signing.notifier, clock=rt.clock),
        expiry_notice_days=rt.config.lifecycle.expiry_notice_days,
        now=rt.clock(),
        before_write=check,
    )
    if report.expired or report.notices or report.retired:
        log.info(
            "refresher: %d subscriber(s) expired, %d notice(s) sent, retired %s",
            report.expired,
            len(report.notices),
            report.retired or "none",
        )


def _outbox(rt: Services, check: Check) -> None:
    """One-time codes past their expiry leave the outbox (ca_core.notifier)."""
    from ca_core.notifier import sweep

    check()
    n = sweep(rt.store, rt.clock())
    if n:
        log.info("outbox: %d expired message(s) removed", n)


def _orphans(rt: Services, check: Check) -> None:
    import datetime as dt

    from ca_core.orphans import sweep_orphans

    report = sweep_orphans(
        rt.store,
        rt.backend,
        grace=dt.timedelta(minutes=rt.config.hsm.orphan_grace_minutes),
        actor=ACTOR,
        before_each=check,
        clock=rt.clock,
    )
    if report.removed:
        log.info("removed %d orphaned key(s)", len(report.removed))


def spawn(config_file: str, heartbeat: Path) -> subprocess.Popen[bytes]:
    """Start ``psre refresher`` for ``psre serve --role all`` (same config, same environment);
    it exits when that ``psre serve`` is gone, and touches ``heartbeat`` while it runs."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "psre.cli", "--config", config_file,
            "refresher", "--parent-pid", str(os.getpid()), "--heartbeat", str(heartbeat),
        ]
    )  # fmt: skip


@click.group(invoke_without_command=True)
@click.option("--once", is_flag=True, help="One round of every chore (if the lease is free).")
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    hidden=True,
    help="Exit when this process (psre serve) is gone.",
)
@click.option(
    "--heartbeat",
    type=click.Path(path_type=Path),
    default=None,
    hidden=True,
    help="Touch this file while running (psre serve's supervisor kills a stuck refresher).",
)
@click.pass_context
def refresher(
    ctx: click.Context, once: bool, parent_pid: int | None, heartbeat: Path | None
) -> None:
    """Background work under a database lease: CRLs, OCSP pre-signing, expiry, sweeps.

    Run one per host if you like: one holds the lease and works, the others stand by and
    take over within refresher.lease_seconds when it dies."""
    if ctx.invoked_subcommand is not None:
        return
    rt: Services = ctx.obj
    r = refresher_for(rt, heartbeat=heartbeat)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worked = r.run(stop, once=once, parent_pid=parent_pid)
    if once and not worked:
        lease = r.leases.holder(LEASE_NAME)
        who = lease.holder if lease is not None and lease.live else "nobody"
        click.echo(f"refresher: lease held by {who}; nothing done", err=True)


@refresher.command("status")
@json_output
@click.pass_obj
def status(rt: Services, as_json: bool) -> None:
    """Who holds the refresher lease, since when and until when."""
    from ca_core.store import ReadOnlyStore
    from ca_core.store.leases import LeaseReads

    store = ReadOnlyStore.open(rt.config.effective_database_url)
    try:
        lease = LeaseReads(store).holder(LEASE_NAME)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(lease.as_dict() if lease else {"name": LEASE_NAME, "holder": None}))
    elif lease is None:
        click.echo("refresher lease: never taken")
    else:
        d = lease.as_dict()
        state = "held" if lease.live else "expired"
        click.echo(
            f"refresher lease: {state} by {lease.holder} (acquired {d['acquired_at']},"
            f" renewed {d['renewed_at']}, expires {d['expires_at']})"
        )
