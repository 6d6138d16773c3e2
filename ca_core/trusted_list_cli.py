"""``psre trusted-list publish``: the PSrE Induk's national trusted list (ca_core.trusted_list)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ca_core.runtime import Runtime


@click.group("trusted-list")
def trusted_list() -> None:
    """The national trusted list of recognized PSrEs (ETSI TS 119 612 XML and JSON)."""


@trusted_list.command("publish")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write tl.xml and tl.json here (default: the directory served at /tl/).",
)
@click.option("--actor", default="operator", show_default=True, help="Who publishes (audit).")
@click.pass_obj
def publish_cmd(rt: Runtime, out_dir: str | None, actor: str) -> None:
    """Sign the list with the tl-signer's HSM key and write it as XML and JSON."""
    from ca_core.trusted_list import public_dir, publish

    done = publish(
        rt.store,
        rt.backend,
        rt.audit,
        base_url=rt.config.public_base_url,
        out_dir=Path(out_dir) if out_dir else public_dir(rt.config.data_path),
        actor=actor,
    )
    click.echo(
        f"trusted list #{done.sequence}: {done.entries} entries; {done.xml_path} "
        f"(sha256 {done.sha256}), {done.json_path}"
    )
