"""``psre init`` and ``psre config``: make an installation and show its configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ca_core import __version__
from ca_core.cli_actor import cli_actor
from ca_core.cli_options import json_output
from ca_core.config import Config
from ca_core.dev_token import ensure_dev_token
from ca_core.runtime import Runtime
from ca_core.store.db import private_dir

if TYPE_CHECKING:
    from psre.services import Services


@click.command()
@click.option("--no-demo", is_flag=True, help="Do not create the demo PKI.")
@click.pass_obj
def init(rt: Services, no_demo: bool) -> None:
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
        # The demo hierarchy is made by the demo key ceremonies, run unattended: the newcomer's
        # PKI comes with transcripts `psre ceremony verify` can check.
        from ceremony_scripts.demo import ISSUING, ROOT, ensure_demo_ceremonies

        ensure_demo_ceremonies(
            rt.store,
            rt.backend,
            ceremonies_dir=cfg.data_path / "ceremonies",
            token_label=cfg.hsm.token_label,
            base_url=cfg.public_base_url,
            echo=click.echo,
            clock=rt.clock,
        )
        click.echo(f"demo PKI ready: {ROOT} -> {ISSUING}")
        from crl.publish import publish_all

        for info in publish_all(rt.crl_publisher):
            click.echo(f"published CRL {info.name} #{info.number}")
    from ocsp.responses import presign_all

    click.echo(f"OCSP: {presign_all(rt.presigner).signed} responses pre-signed")


_CONFIG_HEADER = """\
# psre configuration. Every key can be overridden from the environment:
# PSRE_<KEY> for top-level keys, PSRE_<SECTION>_<KEY> for keys of a section.
# Secrets never go here: hsm.pin_source names where the PIN is (env:VAR, file:PATH or prompt).

"""


@click.group()
def config() -> None:
    """Show the effective configuration."""


@config.command("show")
@json_output
@click.pass_obj
def config_show(rt: Runtime, as_json: bool) -> None:
    """Print the configuration (after env overrides) with secrets redacted."""
    cfg = rt.config.redacted()
    if as_json:
        import dataclasses

        click.echo(json.dumps(dataclasses.asdict(cfg), indent=2))
    else:
        click.echo(cfg.to_toml(), nl=False)
