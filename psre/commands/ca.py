"""CLI of the CA: CAs, issuance, revocation and suspension, certificates, subscribers.

Every command works through the same pipeline as the API (ca_core.issuer / revocation /
subscribers), so a refusal here is the same refusal, with the field named, and exit status 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ca_core.cli_actor import cli_actor
from ca_core.cli_options import json_output, serial_ca
from ca_core.errors import CaError
from ca_core.names import REASONS
from hsm.backend import KeySpec

# The CA pipeline (SQLAlchemy models, issuer, profiles, pkilint) is imported inside the commands
# that use it, so that `psre --help` and every other command start without it.
if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography import x509

    from ca_core.runtime import Runtime
    from ca_core.store.models import Subscriber

_KEY_TYPES = click.Choice([s.value for s in KeySpec])


def _default_issuing_ca(rt: Runtime) -> str:
    """The issuing CA that issues now (after a rollover's switch time, the new one)."""
    from ca_core.rollover import default_issuing_ca

    return default_issuing_ca(rt.store, rt.clock())


def _issuing_ca_for(rt: Runtime, ca_name: str | None, profile: str) -> str:
    """``ca_name`` (or the default), refused outside its issuance window (rollover)."""
    from ca_core.rollover import check_may_issue

    ca = ca_name or _default_issuing_ca(rt)
    check_may_issue(rt.store, ca, profile, rt.clock())
    return ca


# -- psre ca ---------------------------------------------------------------------------------------
@click.group("ca")
def ca_group() -> None:
    """Certificate authorities of the hierarchy."""


@ca_group.command("list")
@json_output
@click.pass_obj
def ca_list(rt: Runtime, as_json: bool) -> None:
    """List the CAs: parent, subject, key, expiry, fingerprint and status."""
    from cryptography import x509

    cas = rt.store.list_cas()
    by_id = {c.id: c.name for c in cas}
    rows = []
    for c in cas:
        cert = x509.load_der_x509_certificate(c.certificate_der) if c.certificate_der else None
        rows.append(
            {
                "name": c.name,
                "parent": by_id.get(c.parent_id) if c.parent_id else None,
                "subject": cert.subject.rfc4514_string() if cert else c.subject_dn,
                "key_label": c.key_label,
                "key_type": c.key_spec,
                "not_after": cert.not_valid_after_utc.isoformat() if cert else None,
                "fingerprint_sha256": c.fingerprint_sha256,
                "status": c.status,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        parent = f" (under {r['parent']})" if r["parent"] else " (root)"
        click.echo(f"{r['name']}{parent}: {r['subject']}  key={r['key_label']} [{r['key_type']}]")
        click.echo(f"    not after {r['not_after']}  sha256 {r['fingerprint_sha256']}")


@ca_group.command("export")
@click.argument("name")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    required=True,
    help="File to write the chain to (PEM; DER with --der: the CA's certificate only).",
)
@click.option("--der", is_flag=True, help="Only the CA certificate, DER.")
@click.pass_obj
def ca_export(rt: Runtime, name: str, out: str, der: bool) -> None:
    """Write CA NAME's certificate and its parents up to the root (PEM)."""
    from cryptography.hazmat.primitives import serialization

    from ca_core.authority import chain

    certs = chain(rt.store, name)
    if der:
        Path(out).write_bytes(certs[0].public_bytes(serialization.Encoding.DER))
    else:
        Path(out).write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    click.echo(f"wrote {len(certs) if not der else 1} certificate(s) to {out}")


def _ca_options(f: Callable[..., None]) -> Callable[..., None]:
    for opt in reversed(
        [
            click.option("--name", required=True, help="Name of the CA (used in URLs)."),
            click.option("--key-label", default=None, help="HSM key label (default: the name)."),
            click.option(
                "--key-type",
                type=_KEY_TYPES,
                default="ec-p384",
                show_default=True,
                help="Key type generated in the HSM.",
            ),
            click.option("--cn", required=True, help="commonName"),
            click.option("--org", required=True, help="organizationName"),
            click.option("--days", type=int, default=None, help="Validity (default: profile max)."),
        ]
    ):
        f = opt(f)
    return f


@ca_group.command("create-root")
@_ca_options
@click.pass_obj
def ca_create_root(
    rt: Runtime,
    name: str,
    key_label: str | None,
    key_type: str,
    cn: str,
    org: str,
    days: int | None,
) -> None:
    """Generate a root key in the HSM and self-sign the root certificate (root-ca profile)."""
    from ca_core.authority import CaSpec, create_root

    spec = CaSpec(
        name, key_label or name, KeySpec.parse(key_type), {"C": "ID", "O": org, "CN": cn}, days
    )
    issued = create_root(rt.store, rt.backend, rt.issuer, spec, actor=cli_actor())
    click.echo(f"root CA {name}: serial {issued.serial_hex} sha256 {issued.fingerprint_sha256}")


@ca_group.command("create-issuing")
@_ca_options
@click.option("--parent", required=True, help="The CA that certifies this one.")
@click.pass_obj
def ca_create_issuing(
    rt: Runtime,
    name: str,
    key_label: str | None,
    key_type: str,
    cn: str,
    org: str,
    days: int | None,
    parent: str,
) -> None:
    """Generate an issuing CA key in the HSM and certify it by its parent (issuing-ca profile)."""
    from ca_core.authority import CaSpec, create_issuing

    spec = CaSpec(
        name, key_label or name, KeySpec.parse(key_type), {"C": "ID", "O": org, "CN": cn}, days
    )
    issued = create_issuing(rt.store, rt.backend, rt.issuer, spec, parent=parent, actor=cli_actor())
    click.echo(f"issuing CA {name}: serial {issued.serial_hex} sha256 {issued.fingerprint_sha256}")


# -- psre issue ------------------------------------------------------------------------------------
def _check_out(out: str) -> None:
    # Checked before issuing: a certificate issued and then not written would be lost to the
    # caller, and a retry refused as a duplicate.
    parent = Path(out).resolve().parent
    if not parent.is_dir():
        raise CaError(f"--out: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise CaError(f"--out: directory {parent} is not writable")


def _load_csr(path: str) -> x509.CertificateSigningRequest:
    from cryptography import x509

    from ca_core.issuer import IssuanceError

    data = Path(path).read_bytes()
    try:
        csr = (
            x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
        )
    except ValueError:
        raise IssuanceError("csr", "not a PKCS#10 request (PEM or DER)") from None
    # Proof of possession (RFC 2986 §3): the request is signed by the key it asks to certify.
    if not csr.is_signature_valid:
        raise IssuanceError("csr", "signature does not verify: no proof of possession")
    return csr


def _csr_request(csr: x509.CertificateSigningRequest) -> tuple[dict[str, str], list[str]]:
    from cryptography import x509

    from ca_core.issuer import IssuanceError
    from policies.subject import SUBJECT_OIDS

    attr_by_oid = {oid: name for name, oid in SUBJECT_OIDS.items()}
    subject: dict[str, str] = {}
    for attr in csr.subject:
        name = attr_by_oid.get(attr.oid)
        if name is None:
            raise IssuanceError("csr.subject", f"attribute {attr.oid.dotted_string} not allowed")
        if name in subject:
            raise IssuanceError(f"subject.{name}", "given more than once")
        subject[name] = str(attr.value)
    emails: list[str] = []
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        for gn in san:
            if not isinstance(gn, x509.RFC822Name):
                raise IssuanceError("csr.san", f"{type(gn).__name__} entries are not issued")
            emails.append(gn.value)
    return subject, emails


@click.command("issue")
@click.option("--profile", required=True, help="Certificate profile (policies/profiles).")
@click.option(
    "--csr",
    "csr_path",
    type=click.Path(exists=True, dir_okay=False),
    help="PKCS#10 request (PEM or DER) whose key is certified.",
)
@click.option("--subscriber", "subscriber_key", help="NIK (or NTRID-… for an agency).")
@click.option("--ca", "ca_name", default=None, help="Issuing CA (default: the only one).")
@click.option(
    "--key-type",
    type=_KEY_TYPES,
    default="ec-p256",
    show_default=True,
    help="For --subscriber: the key generated in the HSM.",
)
@click.option("--days", type=int, default=None, help="Validity in days (default: profile max).")
@click.option(
    "--idempotency-key", default=None, help="Retrying with the same key never issues twice."
)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Certificate (PEM).")
@click.pass_obj
def issue_cmd(
    rt: Runtime,
    profile: str,
    csr_path: str | None,
    subscriber_key: str | None,
    ca_name: str | None,
    key_type: str,
    days: int | None,
    idempotency_key: str | None,
    out: str,
) -> None:
    """Issue a certificate from a CSR or for a subscriber (key generated in the HSM)."""
    if (csr_path is None) == (subscriber_key is None):
        raise click.UsageError("give exactly one of --csr and --subscriber")
    from ca_core import subscribers
    from ca_core.issuer import IssueRequest

    _check_out(out)
    ca = _issuing_ca_for(rt, ca_name, profile)
    if csr_path:
        csr = _load_csr(csr_path)
        subject, emails = _csr_request(csr)
        issued = rt.issuer.issue(
            ca,
            IssueRequest(
                profile=profile,
                subject=subject,
                emails=emails,
                public_key=csr.public_key(),
                validity_days=days,
                idempotency_key=idempotency_key,
                actor=cli_actor(),
            ),
        )
    else:
        assert subscriber_key is not None  # exactly one of --csr/--subscriber (checked above)
        issued = subscribers.issue_for(
            rt.issuer,
            rt.backend,
            key=subscriber_key,
            ca=ca,
            profile=profile,
            key_spec=KeySpec.parse(key_type),
            actor=cli_actor(),
            idempotency_key=idempotency_key,
            validity_days=days,
        )
    Path(out).write_text(issued.pem)
    click.echo(
        f"issued {issued.profile} certificate serial {issued.serial_hex} by {issued.issuer_name}"
    )


# -- psre revoke / suspend / unsuspend ------------------------------------------------------------
@click.command("revoke")
@click.argument("serial")
@click.option(
    "--reason",
    type=click.Choice([r for r in REASONS if r != "certificateHold"]),
    default="unspecified",
    show_default=True,
    help="CRL reason code (RFC 5280 §5.3.1).",
)
@serial_ca
@click.pass_obj
def revoke_cmd(rt: Runtime, serial: str, reason: str, ca_name: str | None) -> None:
    """Revoke a certificate (final). SERIAL is hex as `openssl x509 -serial` prints it."""
    ch = rt.revoker.revoke(serial, reason, actor=cli_actor(), ca=ca_name)
    verb = "revoked" if ch.changed else "already revoked"
    when = f"{ch.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
    click.echo(f"{verb}: {ch.issuer} serial {ch.serial_hex} reason {ch.reason} at {when}")


@click.command("suspend")
@click.argument("serial")
@serial_ca
@click.pass_obj
def suspend_cmd(rt: Runtime, serial: str, ca_name: str | None) -> None:
    """Put the certificate with serial SERIAL on hold (certificateHold)."""
    ch = rt.revoker.suspend(serial, actor=cli_actor(), ca=ca_name)
    verb = "suspended" if ch.changed else f"already {ch.status}"
    click.echo(f"{verb}: {ch.issuer} serial {ch.serial_hex}")


@click.command("unsuspend")
@click.argument("serial")
@serial_ca
@click.pass_obj
def unsuspend_cmd(rt: Runtime, serial: str, ca_name: str | None) -> None:
    """Release the certificate with serial SERIAL from hold."""
    ch = rt.revoker.unsuspend(serial, actor=cli_actor(), ca=ca_name)
    click.echo(f"released: {ch.issuer} serial {ch.serial_hex} is good again")


# -- psre cert -------------------------------------------------------------------------------------
@click.group("cert")
def cert_group() -> None:
    """Certificates in the store."""


@cert_group.command("show")
@click.argument("serial")
@serial_ca
@json_output
@click.option(
    "--pem",
    "with_pem",
    is_flag=True,
    help="Also print the certificate (PEM).",
)
@click.pass_obj
def cert_show(rt: Runtime, serial: str, ca_name: str | None, as_json: bool, with_pem: bool) -> None:
    """Show the certificate with serial SERIAL (hex): status, subject, validity."""
    from ca_core.revocation import normalise_serial

    sh = normalise_serial(serial)
    if ca_name:
        c = rt.store.get_certificate(rt.store.get_ca(ca_name).id, sh)
    else:
        c = rt.store.find_certificate(sh)
    issuer = {ca.id: ca.name for ca in rt.store.list_cas()}[c.issuer_id]
    info = {
        "serial": c.serial_hex,
        "issuer": issuer,
        "subject": c.subject_dn,
        "san": json.loads(c.san),
        "profile": c.profile,
        "status": c.status,
        "not_before": c.not_before.isoformat(),
        "not_after": c.not_after.isoformat(),
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
        "revocation_reason": c.revocation_reason,
        "fingerprint_sha256": c.fingerprint_sha256,
        "key_label": c.key_label,
    }
    if with_pem:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        info["pem"] = (
            x509.load_der_x509_certificate(c.der).public_bytes(serialization.Encoding.PEM).decode()
        )
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for k, v in info.items():
        if k != "pem" and v is not None:
            click.echo(f"{k:20} {v}")
    if with_pem:
        click.echo(info["pem"], nl=False)


# -- psre subscriber -------------------------------------------------------------------------------
@click.group("subscriber")
def subscriber_group() -> None:
    """Subscribers: civil servants (NIK) and agencies."""


@subscriber_group.command("add")
@click.option("--nik", default=None, help="16-digit NIK (people).")
@click.option(
    "--name",
    required=True,
    help="Full name as on the identity document.",
)
@click.option(
    "--email",
    required=True,
    help="Mailbox for notices (and S/MIME certificates).",
)
@click.option("--agency", default=None, help="The agency a civil servant works for.")
@click.option("--org-id", default=None, help="NTRID-… (agencies, for seals).")
@click.pass_obj
def subscriber_add(
    rt: Runtime,
    nik: str | None,
    name: str,
    email: str,
    agency: str | None,
    org_id: str | None,
) -> None:
    """Enrol a subscriber (status NEW); they get an activation code to set their own
    passphrase."""
    from ca_core import subscribers
    from ca_core.notifier import notifier_for
    from signing_api.enrolment import Invitation, enrol_and_invite

    kind = "agency" if org_id and not nik else "person"
    sub, expires = enrol_and_invite(
        rt.store,
        notifier_for(rt.store, rt.config.signing.notifier, clock=rt.clock),
        subscribers.Enrolment(
            name=name,
            email=email,
            nik=nik,
            agency=agency,
            organization_identifier=org_id,
            kind=kind,
        ),
        Invitation.from_config(rt.config),
        actor=cli_actor(),
        clock=rt.clock,
    )
    click.echo(f"enrolled {sub.kind} {sub.nik or sub.organization_identifier}: status {sub.status}")
    click.echo(f"activation code sent to {sub.email} (valid until {expires:%Y-%m-%d %H:%M} UTC)")


@subscriber_group.command("reset")
@click.argument("key")
@click.pass_obj
def subscriber_reset(rt: Runtime, key: str) -> None:
    """The passphrase of KEY stops working; a new activation code goes to the subscriber."""
    from ca_core import subscribers
    from ca_core.notifier import notifier_for
    from signing_api.enrolment import Invitation, reset

    sub = subscribers._get(rt.store, key)
    expires = reset(
        rt.store,
        notifier_for(rt.store, rt.config.signing.notifier, clock=rt.clock),
        sub,
        Invitation.from_config(rt.config),
        actor=cli_actor(),
        clock=rt.clock,
    )
    click.echo(
        f"activation reset; new code sent to {sub.email} (valid until {expires:%Y-%m-%d %H:%M} UTC)"
    )


def _subscriber_dict(sub: Subscriber) -> dict[str, object]:
    return {
        "nik": sub.nik,
        "organization_identifier": sub.organization_identifier,
        "kind": sub.kind,
        "name": sub.name,
        "email": sub.email,
        "agency": sub.agency,
        "status": sub.status,
        "has_passphrase": sub.passphrase_hash is not None,
    }


@subscriber_group.command("show")
@click.argument("key")
@json_output
@click.pass_obj
def subscriber_show(rt: Runtime, key: str, as_json: bool) -> None:
    """Show subscriber KEY (NIK, or NTRID-… of an agency)."""
    from ca_core import subscribers

    sub = subscribers._get(rt.store, key)
    d = _subscriber_dict(sub)
    if as_json:
        click.echo(json.dumps(d, indent=2))
    else:
        for k, v in d.items():
            click.echo(f"{k:24} {v}")


@subscriber_group.command("list")
@json_output
@click.pass_obj
def subscriber_list(rt: Runtime, as_json: bool) -> None:
    """List the subscribers with their status."""
    rows = [_subscriber_dict(s) for s in rt.store.list_subscribers()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        key = r["nik"] or r["organization_identifier"]
        click.echo(f"{key:22} {r['status']:8} {r['name']} <{r['email']}>")


@subscriber_group.command("renew")
@click.argument("key")
@click.option(
    "--profile",
    default=None,
    help="Certificate profile of the new certificate (default: the subscriber's signing or "
    "seal profile).",
)
@click.option(
    "--ca",
    "ca_name",
    default=None,
    help="Issuing CA (default: the current one).",
)
@click.option(
    "--key-type",
    type=_KEY_TYPES,
    default="ec-p256",
    show_default=True,
    help="Type of the new key, generated in the HSM.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    required=True,
    help="File for the new certificate (PEM).",
)
@click.pass_obj
def subscriber_renew(
    rt: Runtime, key: str, profile: str | None, ca_name: str | None, key_type: str, out: str
) -> None:
    """Re-key subscriber KEY: new key and certificate; the old certificate is revoked
    as superseded."""
    from ca_core import subscribers
    from policies.roles import signing_profile_for

    _check_out(out)
    if profile is None:
        kind = subscribers._get(rt.store, key).kind
        profile = signing_profile_for(kind, rt.issuer.profiles).name
    issued = subscribers.renew(
        rt.issuer,
        rt.revoker,
        rt.backend,
        key=key,
        ca=_issuing_ca_for(rt, ca_name, profile),
        profile=profile,
        key_spec=KeySpec.parse(key_type),
        actor=cli_actor(),
    )
    Path(out).write_text(issued.pem)
    click.echo(f"renewed: serial {issued.serial_hex}")
