"""The ``psre`` command line: the root group and a lazy registry of the commands under it.

A command's module is imported only when that command runs or help lists it (``COMMANDS``), so
``psre ca list`` does not load the web app, pyHanko or the PKCS#11 module.

Errors from psre's packages are printed as ``psre: error: …`` with exit status 2 (1 is kept for
"checked and found bad", e.g. a tampered audit chain), never as a traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import time

import click

from ca_core import __version__
from ca_core.cli_actor import set_cli_actor
from ca_core.config import config_candidates, config_path, load_config
from ca_core.errors import CaError
from ca_core.quiet import silence_dependency_warnings
from hsm.errors import HsmError
from policies.errors import PolicyError
from psre.services import Services

log = logging.getLogger("psre")

silence_dependency_warnings()

# Command name -> "module:attribute" of the click command. Each package keeps its commands; the
# ones that wire several packages together live in psre.commands.
COMMANDS: dict[str, str] = {
    "init": "psre.commands.setup:init",
    "config": "psre.commands.setup:config",
    "serve": "psre.commands.serve:serve",
    "hsm": "hsm.cli:hsm",
    "ceremony": "ceremony_scripts.cli:ceremony",
    "audit": "ca_core.audit_cli:audit",
    "policy": "policies.cli:policy",
    "ca": "ca_core.ca_cli:ca_group",
    "issue": "ca_core.ca_cli:issue_cmd",
    "revoke": "ca_core.ca_cli:revoke_cmd",
    "suspend": "ca_core.ca_cli:suspend_cmd",
    "unsuspend": "ca_core.ca_cli:unsuspend_cmd",
    "cert": "ca_core.ca_cli:cert_group",
    "subscriber": "ca_core.ca_cli:subscriber_group",
    "operator": "web.cli:operator",
    "pdf": "signing_api.pdf_cli:pdf",
    "crl": "crl.cli:crl",
    "ocsp": "ocsp.cli:ocsp",
    "metrics": "ca_core.metrics_cli:metrics",
    "client": "signing_api.cli:client_group",
    "outbox": "signing_api.outbox_cli:outbox",
    "backup": "psre.commands.backup:backup_cmd",
    "restore": "psre.commands.backup:restore_cmd",
    "lifecycle": "ca_core.lifecycle_cli:lifecycle_group",
    "report": "ca_core.lifecycle_cli:report_cmd",
    "trusted-list": "ca_core.trusted_list_cli:trusted_list",
}


class _Group(click.Group):
    """Loads commands from ``COMMANDS`` on use; turns psre errors into a one-line message and
    exit status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attr)
            if command.name != cmd_name:  # the registry and the command must agree
                raise RuntimeError(f"{COMMANDS[cmd_name]} is '{command.name}', not '{cmd_name}'")
            self.add_command(command)
        return self.commands.get(cmd_name)

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
    rt = Services(cfg)
    ctx.obj = rt
    ctx.call_on_close(rt.close)
    ctx.meta["config_file"] = str(path)


def _asks_for_help(ctx: click.Context) -> bool:
    """True when the words ask for help, which needs no installation."""
    return any(a in ("-h", "--help") for a in ctx.meta.get("psre_words", []))


def main() -> None:
    cli(prog_name="psre")


if __name__ == "__main__":  # pragma: no cover
    main()
