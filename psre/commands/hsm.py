"""``psre hsm …``: look at the token, make keys, and check that it signs."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

import click
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca_core import audit_objects
from ca_core.cli_actor import cli_actor
from ca_core.cli_options import json_output
from hsm.backend import KeySpec, SignScheme

if TYPE_CHECKING:
    from ca_core.runtime import Runtime


@click.group()
def hsm() -> None:
    """The PKCS#11 token holding psre's keys."""


@hsm.command("list")
@json_output
@click.pass_obj
def list_keys(rt: Runtime, as_json: bool) -> None:
    """List the key pairs on the token."""
    keys = rt.backend.list_keys()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "label": k.label,
                        "type": k.spec.value,
                        "id": k.key_id.hex(),
                        "sensitive": k.sensitive,
                        "extractable": k.extractable,
                    }
                    for k in keys
                ],
                indent=2,
            )
        )
        return
    click.echo(f"token '{rt.backend.token_label}': {len(keys)} key pair(s)")
    for k in keys:
        flags = ("sensitive" if k.sensitive else "NOT sensitive") + (
            ", EXTRACTABLE" if k.extractable else ", not extractable"
        )
        click.echo(f"  {k.label:32} {k.spec.value:9} id={k.key_id.hex()}  {flags}")


@hsm.command()
@click.option("--label", required=True, help="Label of the new key pair.")
@click.option(
    "--type",
    "key_type",
    required=True,
    type=click.Choice([s.value for s in KeySpec]),
    help="Key type.",
)
@click.pass_obj
def keygen(rt: Runtime, label: str, key_type: str) -> None:
    """Generate a key pair inside the token (sensitive, not extractable)."""
    info = rt.backend.generate(label, KeySpec.parse(key_type))
    pub = rt.backend.public_key(label)
    der = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fp = hashes.Hash(hashes.SHA256())
    fp.update(der)
    rt.audit.append(
        cli_actor(),
        "hsm.keygen",
        audit_objects.key(label),
        {
            "type": info.spec.value,
            "token": rt.backend.token_label,
            "spki_sha256": fp.finalize().hex(),
        },
    )
    click.echo(f"generated {info.spec.value} key '{label}' (id {info.key_id.hex()})")
    click.echo(
        pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        nl=False,
    )


@hsm.command("test")
@click.pass_obj
def test_token(rt: Runtime) -> None:
    """Make a throwaway key, sign with it, verify the signature, destroy the key."""
    label = f"psre-selftest-{secrets.token_hex(4)}"
    backend = rt.backend
    backend.generate(label, KeySpec.EC_P256)
    try:
        msg = secrets.token_bytes(64)
        sig = backend.sign(label, msg, "sha256", SignScheme.ECDSA)
        pub = backend.public_key(label)
        if not isinstance(pub, ec.EllipticCurvePublicKey):
            raise click.ClickException("the token returned a public key of the wrong type")
        try:
            pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise click.ClickException("the token's signature does not verify") from None
    finally:
        backend.delete(label)
    click.echo(f"token '{backend.token_label}': sign + verify OK")


@hsm.command("sweep-orphans")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    default=None,
    help="Grace period in minutes (default: hsm.orphan_grace_minutes).",
)
@click.option(
    "--include-undated",
    is_flag=True,
    help="Also remove orphans made before psre stamped creation times on keys.",
)
@json_output
@click.pass_obj
def sweep_orphans_cmd(
    rt: Runtime,
    dry_run: bool,
    older_than: float | None,
    include_undated: bool,
    as_json: bool,
) -> None:
    """Remove subscriber keys that no database row names (left by crashed issuances)."""
    import datetime as dt

    from ca_core.orphans import sweep_orphans

    minutes = rt.config.hsm.orphan_grace_minutes if older_than is None else older_than
    report = sweep_orphans(
        rt.store,
        rt.backend,
        grace=dt.timedelta(minutes=minutes),
        actor=cli_actor(),
        dry_run=dry_run,
        include_undated=include_undated,
        clock=rt.clock,
    )
    if as_json:
        click.echo(json.dumps(report.as_dict(rt.clock()), indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(report.removed)} orphaned key(s)")
    for o in report.removed:
        click.echo(f"  {o.label}")
    if report.young:
        click.echo(f"kept {len(report.young)} younger than {minutes:g} min (in flight?)")
    if report.undated:
        click.echo(f"kept {len(report.undated)} of unknown age (--include-undated removes them)")
