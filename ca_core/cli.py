"""The ``psre`` command line. Each package contributes its own group; this module wires them.

Errors from psre's packages are printed as ``psre: error: …`` with exit status 2 (1 is kept for
"checked and found bad", e.g. a tampered audit chain), never as a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import click

from ca_core import __version__
from ca_core.cli_actor import cli_actor, set_cli_actor
from ca_core.config import Config, config_candidates, config_path, load_config
from ca_core.errors import CaError
from ca_core.quiet import silence_dependency_warnings
from ca_core.runtime import Runtime, ensure_dev_token
from ca_core.store.db import private_dir
from hsm.errors import HsmError
from policies.errors import PolicyError

log = logging.getLogger("psre")

silence_dependency_warnings()


class _Group(click.Group):
    """Turns psre errors into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        # The group's callback runs before a sub-command parses ``--help``: keep the words.
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
        ctx.meta.setdefault("psre_words", [*protected, *ctx.args])
        try:
            return super().invoke(ctx)
        except (CaError, HsmError, PolicyError) as ex:
            click.echo(f"psre: error: {ex}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="psre")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Path of psre.toml (default: $PSRE_CONFIG or ./psre.toml).",
)
@click.option(
    "--actor",
    envvar="PSRE_ACTOR",
    default=None,
    help="Your name for the audit log, recorded next to the OS account (default: the account).",
)
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, actor: str | None) -> None:
    """psre: a certificate authority and PDF signing service (PSrE)."""
    set_cli_actor(ctx, actor)
    path = config_path(config_file)
    # init and restore make an installation; everything else needs one.
    makes_one = ctx.invoked_subcommand in ("init", "restore")
    if not path.is_file() and not makes_one and not _asks_for_help(ctx):
        # Without this, a command run from the wrong directory would quietly start a new, empty
        # installation there (and e.g. call a valid document INVALID).
        looked = (
            [str(path)]
            if (config_file or "PSRE_CONFIG" in os.environ)
            else [str(p) for p in config_candidates()]
        )
        click.echo(
            "psre: error: no psre installation here: no psre.toml at "
            + ", ".join(looked)
            + ". Run the command where psre.toml is, set PSRE_CONFIG or pass --config"
            + " (`psre init` creates one).",
            err=True,
        )
        ctx.exit(2)
    cfg = load_config(path)
    logging.basicConfig(
        level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.Formatter.converter = time.gmtime  # UTC everywhere, logs included
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step is noise
    from ca_core.metrics_dir import join_running_server

    join_running_server(cfg.data_path)  # CLI issuance/revocation counts in psre serve's metrics
    rt = Runtime(cfg)
    ctx.obj = rt
    ctx.call_on_close(rt.close)
    ctx.meta["config_file"] = str(path)


def _asks_for_help(ctx: click.Context) -> bool:
    """True when the words ask for help, which needs no installation."""
    return any(a in ("-h", "--help") for a in ctx.meta.get("psre_words", []))


@cli.command()
@click.option("--no-demo", is_flag=True, help="Do not create the demo PKI.")
@click.pass_obj
def init(rt: Runtime, no_demo: bool) -> None:
    """Create psre.toml, the dev token and the database (idempotent)."""
    ctx = click.get_current_context()
    path = Path(ctx.meta["config_file"])
    cfg: Config = rt.config
    if not path.exists():
        path.write_text(_CONFIG_HEADER + cfg.to_toml(), encoding="utf-8")
        click.echo(f"wrote {path}")
    private_dir(cfg.data_path)  # tokens, database, keys of the CA: nobody else's business
    if ensure_dev_token(cfg):
        click.echo(f"created SoftHSM token '{cfg.hsm.token_label}'")
    else:
        click.echo(f"token '{cfg.hsm.token_label}' ready")
    rt.backend.health()
    from signing_api.totp import CODE_MAC_KEY

    # The key that MACs one-time codes lives in the token, never in the database.
    mac_key = rt.backend.ensure_mac_key(CODE_MAC_KEY)
    flags = f"sensitive={mac_key.sensitive}, extractable={mac_key.extractable}"
    click.echo(f"one-time code key '{mac_key.label}' ready (id {mac_key.key_id.hex()}, {flags})")
    store = rt.store  # opening runs the migrations
    click.echo(f"database ready ({store.ping().get('dialect')})")
    click.echo(store.ensure_reader_role())
    rt.audit.append(cli_actor(), "system.init", "psre", {"version": __version__})
    if not no_demo:
        from ca_core.demo import ensure_demo_pki

        ensure_demo_pki(rt, echo=click.echo)
        from crl.publish import publish_all

        for info in publish_all(rt):
            click.echo(f"published CRL {info.name} #{info.number}")
    from ocsp.responses import presign_all

    click.echo(f"OCSP: {presign_all(rt).signed} responses pre-signed")


_CONFIG_HEADER = """\
# psre configuration. Every key can be overridden from the environment:
# PSRE_<KEY> for top-level keys, PSRE_<SECTION>_<KEY> for keys of a section.
# Secrets never go here: hsm.pin_source names where the PIN is (env:VAR, file:PATH or prompt).

"""


@cli.group()
def config() -> None:
    """Show the effective configuration."""


@config.command("show")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON instead of text.",
)
@click.pass_obj
def config_show(rt: Runtime, as_json: bool) -> None:
    """Print the configuration (after env overrides) with secrets redacted."""
    cfg = rt.config.redacted()
    if as_json:
        import dataclasses

        click.echo(json.dumps(dataclasses.asdict(cfg), indent=2))
    else:
        click.echo(cfg.to_toml(), nl=False)


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default from config).")
@click.option("--port", type=int, default=None, help="Port (default from config).")
@click.option("--dev", is_flag=True, help="Use Flask's development server instead of gunicorn.")
@click.pass_obj
def serve(rt: Runtime, host: str | None, port: int | None, dev: bool) -> None:
    """Serve the web API (gunicorn, as in production)."""
    host = host or rt.config.server.host
    port = port or rt.config.server.port
    _announce(rt.config, host, port)
    if dev:
        from crl.scheduler import start_in
        from signing_api.app import create_app

        app = create_app(rt.config)
        start_in(app)
        app.run(host=host, port=port, threaded=True)
        return
    # Before anything imports prometheus_client: every process below writes its metrics there.
    from ca_core.metrics_dir import prepare_multiproc_dir

    prepare_multiproc_dir(rt.config.data_path)
    from signing_api.wsgi import run_gunicorn

    config_file = click.get_current_context().meta["config_file"]
    helpers = []
    if rt.config.metrics.listen:
        from ca_core import metrics
        from ca_core.supervise import Supervisor

        helpers.append(Supervisor("metrics listener", lambda: metrics.spawn(config_file)))
    # The OCSP refresh scheduler runs as a process of its own next to the workers (ocsp/daemon.py),
    # restarted whenever it dies (ca_core/supervise.py).
    if rt.config.ocsp.daemon_in_serve:
        from ca_core.supervise import Supervisor
        from ocsp.daemon import spawn

        helpers.append(Supervisor("OCSP daemon", lambda: spawn(config_file)))
    for h in helpers:
        h.start()
    try:
        run_gunicorn(rt.config, host, port)
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
        f"psre: serving {shown} (public base URL {base})\n"
        f"  {shown}/verify      check a signed PDF\n"
        f"  {shown}/repository  CA certificates, CRLs, CP/CPS\n"
        f"  {shown}/console/    operator console; first: psre operator add NAME --role admin\n"
        f"  {shown}/api/openapi.json  the signing API; README.md's 'Try it' goes on from here",
        err=True,
    )


def _register_groups() -> None:
    from ca_core import ca_cli
    from ca_core.audit_cli import audit
    from hsm.cli import hsm
    from policies.cli import policy

    cli.add_command(hsm)
    from ceremony_scripts.cli import ceremony

    cli.add_command(ceremony)
    cli.add_command(audit)
    cli.add_command(policy)
    for command in ca_cli.ALL:
        cli.add_command(command)
    from web.cli import operator

    cli.add_command(operator)
    from signing_api.pdf_cli import pdf

    cli.add_command(pdf)
    from crl.cli import crl

    cli.add_command(crl)
    from ocsp.cli import ocsp

    cli.add_command(ocsp)
    from ca_core.metrics_cli import metrics

    cli.add_command(metrics)
    from signing_api.cli import client_group

    cli.add_command(client_group)
    from signing_api.outbox_cli import outbox

    cli.add_command(outbox)
    from ca_core import backup_cli, lifecycle_cli

    for command in (*backup_cli.ALL, *lifecycle_cli.ALL):
        cli.add_command(command)
    from ca_core.trusted_list_cli import trusted_list

    cli.add_command(trusted_list)


_register_groups()


def main() -> None:
    cli(prog_name="psre")


if __name__ == "__main__":  # pragma: no cover
    main()
