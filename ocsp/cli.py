"""``psre ocsp``: pre-sign, inspect, and the nginx configuration (``psre refresher`` keeps
responses fresh)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click

from ca_core.runtime import Runtime

# The store's repositories are imported by the commands that use them, not at start-up.
if TYPE_CHECKING:
    from ocsp.responses import Presigner


class OcspRuntime(Runtime, Protocol):
    """The runtime as the ocsp commands see it: with the process's presigner, which
    psre.services builds (ca_core's Runtime cannot name a type of this package)."""

    @property
    def presigner(self) -> Presigner: ...


@click.group()
def ocsp() -> None:
    """OCSP responses: pre-signing, status, nginx."""


@ocsp.command()
@click.option("--ca", default=None, help="Only this CA (default: every active CA).")
@click.option("--force", is_flag=True, help="Re-sign every response, due or not.")
@click.option(
    "--age-only",
    is_flag=True,
    help="Only responses due by age (the refresher's every-round look; no full comparison).",
)
@click.pass_obj
def presign(rt: OcspRuntime, ca: str | None, force: bool, age_only: bool) -> None:
    """Sign the responses that are missing, due for refresh or out of date."""
    from ocsp.responses import presign_all

    report = presign_all(rt.presigner, ca=ca, force=force, full=not age_only)
    for name, n in report.per_ca.items():
        click.echo(f"{name}: {n} responses signed")
    for err in report.errors:
        click.echo(f"error: {err}", err=True)
    if report.errors:
        raise SystemExit(2)


@ocsp.command()
@click.argument("serial")
@click.option("--ca", default=None, help="The issuing CA, if several used the serial.")
@click.pass_obj
def status(rt: Runtime, serial: str, ca: str | None) -> None:
    """The status of the certificate with serial SERIAL and its pre-signed responses."""
    from ca_core.revocation import normalise_serial
    from ca_core.store import normalize_serial
    from ca_core.store.ocsp_responses import OcspResponseReads

    sh = normalise_serial(serial)
    store = rt.store
    cert = store.get_certificate(store.get_ca(ca).id, sh) if ca else store.find_certificate(sh)
    names = {c.id: c.name for c in store.list_cas()}
    click.echo(f"certificate {sh} from {names[cert.issuer_id]}: {cert.status}")
    rows = OcspResponseReads(store).of_certificate(cert.issuer_id, normalize_serial(sh))
    for r in rows:
        reason = f" ({r.revocation_reason})" if r.revocation_reason else ""
        click.echo(
            f"  {r.hash_alg:6} {r.cert_status}{reason}"
            f"  thisUpdate {r.this_update:%Y-%m-%dT%H:%M:%SZ}"
            f"  nextUpdate {r.next_update:%Y-%m-%dT%H:%M:%SZ}  signer {r.signer_label}"
            f"  sha256 {r.sha256[:16]}…"
        )
    if not rows:
        click.echo("  no pre-signed response yet (psre ocsp presign)")


@ocsp.command("nginx-conf")
@click.option("--listen", default="80", show_default=True, help="nginx listen directive value.")
@click.option("--upstream", default=None, help="host:port of psre serve (default from config).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the site here (default: print it).",
)
@click.pass_obj
def nginx_conf(rt: Runtime, listen: str, upstream: str | None, out: str | None) -> None:
    """The nginx site serving pre-signed responses for this installation."""
    from ocsp.nginx import NginxSite, render
    from ocsp.static import static_root

    cfg = rt.config
    text = render(
        NginxSite(
            root=static_root(cfg.data_path),
            listen=listen,
            upstream=upstream or f"{cfg.server.host}:{cfg.server.port}",
            validity_hours=cfg.ocsp.validity_hours,
            max_body=cfg.ocsp.max_request_bytes,
        )
    )
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
