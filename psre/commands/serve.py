"""``psre serve``: the web app under gunicorn, with its helper processes."""

from __future__ import annotations

import dataclasses

import click

from ca_core.config import SERVER_ROLES, Config
from ca_core.runtime import Runtime


@click.command()
@click.option("--host", default=None, help="Address to listen on (default from config).")
@click.option("--port", type=int, default=None, help="Port (default from config).")
@click.option(
    "--role",
    type=click.Choice(SERVER_ROLES),
    default=None,
    help="public (no HSM, read-only), signing, or all (+ the refresher); default server.role.",
)
@click.option("--dev", is_flag=True, help="Use Flask's development server instead of gunicorn.")
@click.pass_obj
def serve(rt: Runtime, host: str | None, port: int | None, role: str | None, dev: bool) -> None:
    """Serve the web API (gunicorn, as in production)."""
    host = host or rt.config.server.host
    port = port or rt.config.server.port
    role = role or rt.config.server.role
    # The workers build their app from this config: the role travels with it.
    cfg = dataclasses.replace(rt.config, server=dataclasses.replace(rt.config.server, role=role))
    _announce(cfg, host, port)
    if dev:
        from psre.app import create_app

        create_app(cfg).run(host=host, port=port, threaded=True)
        return
    # Before anything imports prometheus_client: every process below writes its metrics there.
    from ca_core.metrics_dir import prepare_multiproc_dir

    prepare_multiproc_dir(rt.config.data_path)
    from psre.wsgi import run_gunicorn

    config_file = click.get_current_context().meta["config_file"]
    helpers = []
    if rt.config.metrics.listen:
        from ca_core import metrics
        from ca_core.supervise import Supervisor

        helpers.append(Supervisor("metrics listener", lambda: metrics.spawn(config_file)))
    # One host: the background work runs as ``psre refresher``, a process of its own next to
    # the workers, restarted whenever it dies (ca_core/supervise.py). With roles split across
    # hosts, run ``psre refresher`` where you like: its lease lets one work at a time.
    if role == "all" and rt.config.ocsp.daemon_in_serve:
        from ca_core.supervise import Supervisor
        from psre.commands.refresher import heartbeat_path, spawn, stale_after

        beat = heartbeat_path(rt.config.data_path)
        helpers.append(
            Supervisor(
                "refresher",
                lambda: spawn(config_file, beat),
                heartbeat=beat,
                stale_after=stale_after(rt),
            )
        )
    for h in helpers:
        h.start()
    try:
        run_gunicorn(cfg, host, port)
    finally:
        for h in helpers:
            h.stop()


def _announce(cfg: Config, host: str, port: int) -> None:
    """Say where psre answers and what to do first; warn when certificates would point elsewhere."""
    from urllib.parse import urlsplit

    base = cfg.public_base_url
    parts = urlsplit(base)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if loopback and (parts.port or 80) != port:
        click.echo(
            f"psre: warning: serving on port {port}, but public_base_url is {base}: CRL and"
            " OCSP URLs in certificates point there. Set public_base_url in psre.toml if this"
            " port is meant to stay.",
            err=True,
        )
    shown = f"http://{host}:{port}" if not loopback else f"http://{parts.hostname}:{port}"
    click.echo(
        f"psre: serving {shown} as role {cfg.server.role} (public base URL {base})\n"
        f"  {shown}/verify      check a signed PDF\n"
        f"  {shown}/repository  CA certificates, CRLs, CP/CPS\n"
        f"  {shown}/console/    operator console; first: psre operator add NAME --role admin\n"
        f"  {shown}/api/openapi.json  the signing API; README.md's 'Try it' goes on from here",
        err=True,
    )
