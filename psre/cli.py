"""The ``psre`` command line: the root group and a lazy registry of the commands under it.

A command's module is imported only when that command runs or its own help is asked for
(``COMMANDS``): ``psre --help`` lists the registry's summaries, and ``psre ca list`` does not load
the web app or pyHanko.

Errors from psre's packages are printed as ``psre: error: …`` with exit status 2 (1 is kept for
"checked and found bad", e.g. a tampered audit chain), never as a traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Entry:
    target: str  # "module:attribute" of the click command
    # The first paragraph of the command's help: what `psre --help` lists without importing it
    # (tests/test_cli_help.py holds the two equal).
    summary: str


# Command name -> where it is. Each package keeps its own commands; the ones that wire several
# packages together live in psre.commands.
COMMANDS: dict[str, Entry] = {
    "init": Entry(
        "psre.commands.setup:init",
        "Create psre.toml, the dev token and the database (idempotent).",
    ),
    "config": Entry("psre.commands.setup:config", "Show the effective configuration."),
    "serve": Entry("psre.commands.serve:serve", "Serve the web API (gunicorn, as in production)."),
    "hsm": Entry("psre.commands.hsm:hsm", "The PKCS#11 token holding psre's keys."),
    "ceremony": Entry(
        "ceremony_scripts.cli:ceremony",
        "Key ceremonies: scripted, witnessed, K-of-N PIN, verifiable transcript.",
    ),
    "audit": Entry("ca_core.audit_cli:audit", "Verify and show the audit log."),
    "policy": Entry(
        "policies.cli:policy", "Certificate profiles and the CP/CPS rendered from them."
    ),
    "ca": Entry("psre.commands.ca:ca_group", "Certificate authorities of the hierarchy."),
    "issue": Entry(
        "psre.commands.ca:issue_cmd",
        "Issue a certificate from a CSR or for a subscriber (key generated in the HSM).",
    ),
    "revoke": Entry(
        "psre.commands.ca:revoke_cmd",
        "Revoke a certificate (final). SERIAL is hex as `openssl x509 -serial` prints it.",
    ),
    "suspend": Entry(
        "psre.commands.ca:suspend_cmd",
        "Put the certificate with serial SERIAL on hold (certificateHold).",
    ),
    "unsuspend": Entry(
        "psre.commands.ca:unsuspend_cmd", "Release the certificate with serial SERIAL from hold."
    ),
    "cert": Entry("psre.commands.ca:cert_group", "Certificates in the store."),
    "subscriber": Entry(
        "psre.commands.ca:subscriber_group", "Subscribers: civil servants (NIK) and agencies."
    ),
    "operator": Entry("web.cli:operator", "Operator accounts of the web console."),
    "pdf": Entry("signing_api.pdf_cli:pdf", "Sign and verify PDFs (PAdES) with keys in the HSM."),
    "crl": Entry(
        "crl.cli:crl", "Certificate revocation lists: generate, show, publish on a schedule."
    ),
    "ocsp": Entry("ocsp.cli:ocsp", "OCSP responses: pre-signing, status, nginx."),
    "metrics": Entry("ca_core.metrics_cli:metrics", "Prometheus metrics (metrics.listen)."),
    "client": Entry(
        "psre.commands.client:client_group",
        "Client applications of the e-sign API (siMAYA, PNSMail, …).",
    ),
    "outbox": Entry(
        "signing_api.outbox_cli:outbox",
        "Messages to signers (one-time codes, activation codes, lockout notices).",
    ),
    "backup": Entry(
        "psre.commands.backup:backup_cmd",
        "Back up the database (consistent snapshot), configuration, published files, ceremony"
        " records and, for a SoftHSM token under data_dir, the token directory (never the"
        " PINs).",
    ),
    "restore": Entry(
        "psre.commands.backup:restore_cmd",
        "Restore the backup in BACKUP_DIR onto this machine, then catch up with what was"
        " published since.",
    ),
    "lifecycle": Entry(
        "ca_core.lifecycle_cli:lifecycle_group",
        "Certificate lifecycles: expiry, notices before expiry.",
    ),
    "report": Entry(
        "ca_core.lifecycle_cli:report_cmd",
        "Figures for the ministry: certificates issued, revoked (by reason), suspended;"
        " signatures by client app, agency and level; lockouts.",
    ),
    "trusted-list": Entry(
        "ca_core.trusted_list_cli:trusted_list",
        "The national trusted list of recognized PSrEs (ETSI TS 119 612 XML and JSON).",
    ),
    "refresher": Entry(
        "psre.commands.refresher:refresher",
        "Background work under a database lease: CRLs, OCSP pre-signing, expiry, sweeps.",
    ),
}


class _Group(click.Group):
    """Loads commands from ``COMMANDS`` on use; turns psre errors into a one-line message and
    exit status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name].target.split(":")
            command = getattr(importlib.import_module(module), attr)
            if command.name != cmd_name:  # the registry and the command must agree
                raise RuntimeError(f"{module}:{attr} is '{command.name}', not '{cmd_name}'")
            self.add_command(command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands in ``psre --help``, from the registry: no command is imported."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            # A stand-in with the summary as its help shortens it as click shortens the real one.
            command = self.commands.get(name) or click.Command(name, help=COMMANDS[name].summary)
            rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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
