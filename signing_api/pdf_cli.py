"""``psre pdf sign`` and ``psre pdf verify``: the PAdES engine from the command line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ca_core import audit_objects
from ca_core.cli_actor import cli_actor
from ca_core.cli_options import json_output
from ca_core.clock import Clock, utcnow
from ca_core.errors import NotFoundError
from signing_api.pdf_sign import LEVELS, PdfSignError, SignOptions, Stamp, sign_pdf
from signing_api.runtime import pdf_engine

# pyHanko (verify, and sign_pdf's engine) and the models load inside the commands that use them,
# so that the rest of psre does not pay for them at start-up.
if TYPE_CHECKING:
    from ca_core.runtime import Runtime
    from ca_core.store import Store
    from ca_core.store.models import Certificate
    from signing_api.runtime import SigningRuntime


class SignerNotReadyError(PdfSignError):
    """The subscriber may not sign: not ``ISSUE``, or no valid certificate with an HSM key."""

    code = "signer_not_ready"


def signing_certificate(store: Store, key: str, *, clock: Clock = utcnow) -> Certificate:
    """The newest valid, unrevoked certificate with a key in the HSM of subscriber ``key``."""
    from ca_core import subscribers
    from ca_core.store.signing_certs import newest_for_subscriber

    sub = subscribers._get(store, key)  # NIK or organizationIdentifier, as `psre subscriber`
    if sub.status != "ISSUE":
        raise SignerNotReadyError(f"subscriber {key} has status {sub.status}; only ISSUE signs")
    row = newest_for_subscriber(store, sub.id, clock())
    if row is None:
        raise SignerNotReadyError(f"subscriber {key} has no valid signing certificate")
    return row


@click.group("pdf")
def pdf() -> None:
    """Sign and verify PDFs (PAdES) with keys in the HSM."""


@pdf.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--subscriber", "key", required=True, help="NIK (or NTRID-… of an agency).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    required=True,
    help="File for the signed PDF (must not exist).",
)
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="B-LT",
    show_default=True,
    help="PAdES baseline level.",
)
@click.option(
    "--reason",
    default=None,
    help="/Reason written into the signature.",
)
@click.option(
    "--location",
    default=None,
    help="/Location written into the signature.",
)
@click.option("--page", type=int, default=None, help="Visible stamp on this page (-1: last).")
@click.option("--box", default=None, help="Visible stamp box x1,y1,x2,y2 (PDF points).")
@click.option("--tag", default=None, help="Visible stamp centred on this text.")
@click.option("--qr-url", default=None, help="Draw a QR code of this URL in the stamp.")
@click.option(
    "--image",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Image (PNG/JPEG) drawn in the visible stamp.",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File with the password of an encrypted PDF.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File with the signer's own passphrase (else it is asked for, unechoed).",
)
@click.pass_obj
def pdf_sign(
    rt: SigningRuntime,
    file: str,
    key: str,
    out: str,
    level: str,
    reason: str | None,
    location: str | None,
    page: int | None,
    box: str | None,
    tag: str | None,
    qr_url: str | None,
    image: str | None,
    password_file: str | None,
    passphrase_file: str | None,
) -> None:
    """Sign FILE as the subscriber given by --subscriber, activated by their own passphrase
    (sole control).

    A person types their passphrase themselves; an agency's seal needs the agency's passphrase.
    Wrong passphrases count towards the lockout like the API's (channel ``cli``)."""
    if Path(out).exists():
        raise click.UsageError(f"{out} exists; psre never overwrites an output")
    stamp = None
    if page is not None or box or tag or qr_url or image:
        coords = tuple(float(v) for v in box.split(",")) if box else None
        if coords is not None and len(coords) != 4:
            raise click.UsageError("--box needs four numbers x1,y1,x2,y2")
        stamp = Stamp(
            page=page if page is not None else 1,
            box=coords,
            tag=tag,
            qr_url=qr_url,
            image=Path(image).read_bytes() if image else None,
        )
    password = None
    if password_file:
        password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
    try:
        cert = signing_certificate(rt.store, key, clock=rt.clock)
    except NotFoundError as ex:
        raise SignerNotReadyError(str(ex)) from ex
    _activate(rt, key, _signer_passphrase(passphrase_file))
    opts = SignOptions(
        level=level, reason=reason, location=location, stamp=stamp, pdf_password=password
    )
    data = Path(file).read_bytes()
    signed = sign_pdf(pdf_engine(rt), data, cert, opts)
    Path(out).write_bytes(signed)
    # Checklist "remote signing": every signature is an audit event with the document hash.
    # Serials are unique per issuer only: the object names the CA, as every other writer's.
    ca_name = next(c.name for c in rt.store.list_cas() if c.id == cert.issuer_id)
    rt.audit.append(
        cli_actor(),
        "pdf.signed",
        audit_objects.certificate(ca_name, cert.serial_hex),
        {
            "subscriber": key,
            "activation": "passphrase",
            "level": level,
            "document_sha256": hashlib.sha256(data).hexdigest(),
            "signed_sha256": hashlib.sha256(signed).hexdigest(),
        },
    )
    click.echo(f"signed {file} as {key} (certificate {cert.serial_hex}), PAdES {level}: {out}")


class ActivationRefusedError(PdfSignError):
    """The signer's passphrase was wrong, missing, or the signer is locked out."""

    code = "activation_refused"


def _signer_passphrase(path: str | None) -> str:
    if path is not None:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    else:
        try:
            value = click.prompt(
                "signer's passphrase", hide_input=True, default="", show_default=False
            )
        except click.Abort:  # end of input: nobody there to type it
            value = ""
    if not value:
        raise ActivationRefusedError("the signer's passphrase is required (sole control)")
    return value


def _activate(rt: Runtime, key: str, passphrase: str) -> None:
    """Check the signer's own passphrase, through the API's lockout (channel ``cli``)."""
    from ca_core import subscribers
    from ca_core.notifier import notifier_for
    from signing_api.activation import Activation
    from signing_api.esign_errors import EsignError
    from signing_api.lockout import Channel

    sub = subscribers._get(rt.store, key)
    checker = Activation(
        rt.store,
        rt.config.signing,
        None,
        channel=Channel("cli", cli_actor()),
        notifier=notifier_for(rt.store, rt.config.signing.notifier, clock=rt.clock),
        clock=rt.clock,
    )
    try:
        checker.check(sub, passphrase=passphrase, code=None, documents=1)
    except EsignError as ex:
        raise ActivationRefusedError(ex.message) from None


@pdf.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_output
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File with the password of an encrypted PDF.",
)
@click.pass_obj
def pdf_verify(rt: SigningRuntime, file: str, as_json: bool, password_file: str | None) -> None:
    """Verify every signature of FILE against this PSrE; exit 1 unless all are valid."""
    from signing_api.verify import verify_pdf
    from signing_api.verify_sources import store_sources

    password = None
    if password_file:
        password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
    trust, revinfo = store_sources(rt.config)
    report = verify_pdf(
        trust, revinfo, rt.clock, Path(file).read_bytes(), password, pool=rt.pdf_pool
    )
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=2, default=_json_default))
    else:
        click.echo(f"{report.summary}: {len(report.signatures)} signature(s)")
        for sig in report.signatures:
            verdict = "valid" if sig.valid else "NOT VALID"
            click.echo(
                f"  {sig.field_name}: {verdict}, PAdES {sig.level}, {sig.signer_name} "
                f"(certificate {sig.certificate_serial}, {sig.certificate_status})"
            )
            if sig.psre:
                click.echo(f"    PSrE: {sig.psre} (recognized by the PSrE Induk)")
            for cert in [*sig.chain, *sig.tsa_chain]:
                state = f"{cert.status}, now {cert.status_now}"
                click.echo(f"    {cert.role}: {cert.name} ({cert.serial}) {state}")
            for problem in sig.problems:
                click.echo(f"    - {problem}")
    if report.summary != "VALID":
        raise SystemExit(1)


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
