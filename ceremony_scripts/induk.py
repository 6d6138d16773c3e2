"""Ceremony steps of the PSrE Induk (Root CA Indonesia), and the one a certified PSrE runs.

* ``certify-psre``: the root certifies a licensed PSrE's CA from the PSrE's CSR. The key is in
  *that PSrE's* HSM: the CSR's signature is the proof of possession, and a key found on our own
  token is refused (that is ``intermediate-cert``'s case). The constraints the root puts on the
  PSrE — pathLenConstraint, certificate policies, name constraints, EKUs — come from the profile
  (``psre-subordinate``), and the certificate is linted like any other before the HSM signs it.
  The PSrE is recorded as recognized (``recognized_cas``), which the trusted list publishes.
* ``revoke-psre``: revoke a recognized PSrE's CA certificate (what ``revoke-ca`` does: status,
  OCSP re-signed, the root's CRL — the ARL — re-signed in the same step) and mark it withdrawn.
* ``cross-certify``: the root certifies a foreign root's subject and key, from its CSR or its
  self-signed certificate (signature checked), and writes a CSR of our root for the reverse
  direction. When both roots are psre installations, each runs this step with the other's CSR.
* ``import-ca-cert``: a PSrE installs its own CA certificate issued elsewhere (by the Induk),
  after checking that it certifies the key of that label on its token and is a CA certificate.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from ca_core import audit_objects
from ca_core.issuer import IssueRequest
from ca_core.keycheck import spki_sha256
from ca_core.store import Store, ca_records, dry_copies, recognized_cas
from ca_core.store.models import RecognizedCa
from ceremony_scripts.errors import CeremonyError
from ceremony_scripts.spec import StepSpec
from ceremony_scripts.steps import (
    PreflightView,
    StepContext,
    StepType,
    _ca_status,
    _ca_status_check,
    _spec_of,
    _z,
    ca_exists,
    register,
)
from hsm.keys import default_hash, private_key
from policies.errors import ExtensionError, SubjectError
from policies.subject import build_subject

_DER = serialization.Encoding.DER
_PEM = serialization.Encoding.PEM


# --- inputs ---------------------------------------------------------------------------------------
def _input(ctx: StepContext, path: Path) -> bytes:
    """An input file: made by an earlier step of this ceremony (remapped in a dry run) or
    before it."""
    p = ctx.remap(path)
    if not p.exists():
        p = path
    try:
        return p.read_bytes()
    except OSError as ex:
        raise CeremonyError(f"cannot read {p} ({ex.strerror})") from None


def _csr(ctx: StepContext, path: Path) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(_input(ctx, path))
    except ValueError as ex:
        raise CeremonyError(f"{path} is not a PEM CSR: {ex}") from None
    if not csr.is_signature_valid:
        # The proof of possession: only the holder of the private key could have signed it.
        raise CeremonyError(f"CSR {path} has an invalid signature (no proof of possession)")
    return csr


def _certificates(ctx: StepContext, path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(_input(ctx, path))
    except ValueError as ex:
        raise CeremonyError(f"{path} holds no PEM certificate: {ex}") from None
    return certs


def _self_signed(ctx: StepContext, path: Path) -> x509.Certificate:
    cert = _certificates(ctx, path)[0]
    if cert.subject != cert.issuer:
        raise CeremonyError(f"{path} is not a self-signed root certificate")
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        raise CeremonyError(f"{path}: the self-signature does not verify") from None
    return cert


def _subject_matches(ctx: StepContext, st: StepSpec, got: x509.Name, what: str) -> None:
    assert st.profile
    try:
        want = build_subject(ctx.profiles[st.profile], st.subject)
    except (SubjectError, ExtensionError) as ex:
        raise CeremonyError(f"{ex.field}: {ex.reason}") from None
    if got != want:
        raise CeremonyError(
            f"the {what}'s subject {got.rfc4514_string()} is not the file's {want.rfc4514_string()}"
        )


def _not_our_key(ctx: StepContext, pub: object) -> None:
    """An external CA's key must not be one of ours: that would be intermediate-cert."""
    digest = spki_sha256(pub)  # type: ignore[arg-type]
    for info in ctx.backend.list_keys():
        try:
            if spki_sha256(ctx.backend.public_key(info.label)) == digest:
                raise CeremonyError(
                    f"the key is key '{info.label}' on this token: an external CA's key lives "
                    "in its own HSM (use intermediate-cert for our own CAs)"
                )
        except CeremonyError:
            raise
        except Exception:  # noqa: S112 - a key without a readable public half
            continue


def _issue(ctx: StepContext, st: StepSpec, pub: object) -> x509.Certificate:
    assert st.issuer and st.profile
    ctx.at("certificate")
    issued = ctx.issuer.issue(
        st.issuer,
        IssueRequest(
            profile=st.profile,
            subject=st.subject,
            public_key=pub,  # type: ignore[arg-type]
            validity_days=st.validity_days,
            not_before=st.not_before,
            actor=ctx.actor,
        ),
    )
    parent = ctx.store.get_ca(st.issuer)
    assert parent.certificate_der is not None
    ctx.certificate(st, issued, x509.load_der_x509_certificate(parent.certificate_der))
    return issued.certificate


def _recognize(
    ctx: StepContext,
    st: StepSpec,
    cert: x509.Certificate,
    kind: str,
    self_signed: x509.Certificate | None = None,
) -> None:
    assert st.ca and st.issuer
    ctx.at("recognition")
    org = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    display = str(org[0].value) if org else cert.subject.rfc4514_string()
    der = cert.public_bytes(_DER)
    issuer = ctx.store.get_ca(st.issuer)
    serial = format(cert.serial_number, "x")
    details = {
        "kind": kind,
        "subject": cert.subject.rfc4514_string(),
        "serial": serial,
        "issuer_ca": st.issuer,
        "service_url": st.service_url,
        "status": "granted",
    }
    grant = recognized_cas.Grant(
        name=st.ca,
        kind=kind,
        display_name=display,
        issuer_id=issuer.id,
        serial_hex=serial,
        certificate_der=der,
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        self_signed_der=self_signed.public_bytes(_DER) if self_signed else None,
        service_url=st.service_url,
        granted_at=ctx.issuer.clock().replace(microsecond=0),
    )
    recognized_cas.grant(ctx.store, grant, actor=ctx.actor, details=details)
    ctx.record("psre.recognize", audit_objects.recognized(st.ca), details)


def _recognized_name_check(view: PreflightView, st: StepSpec) -> list[str]:
    problems = []
    if st.ca and _recognized(view.store, st.ca) is not None:
        problems.append(f"{st.where}: '{st.ca}' is already a recognized CA")
    # (A CSR may be made by an earlier step: the runner checks that one.)
    if st.certificate is not None and not st.certificate.exists():
        problems.append(f"{st.where}: input {st.certificate} does not exist")
    return problems


def _recognized(store: Store, name: str) -> RecognizedCa | None:
    return recognized_cas.get(store, name)


# --- certify-psre ---------------------------------------------------------------------------------
def _certify_psre(ctx: StepContext, st: StepSpec) -> None:
    assert st.csr
    ctx.at("reading CSR")
    csr = _csr(ctx, st.csr)
    pub = csr.public_key()
    _subject_matches(ctx, st, csr.subject, "CSR")
    _not_our_key(ctx, pub)
    ctx.record(
        "csr.accept",
        audit_objects.ceremony_file(st.csr),
        {
            "subject": csr.subject.rfc4514_string(),
            "spki_sha256": spki_sha256(pub),
            "key_type": _spec_of(pub).value,
            "proof_of_possession": "CSR signature verified",
            "key_on_this_token": False,
        },
    )
    cert = _issue(ctx, st, pub)
    _recognize(ctx, st, cert, "psre")


# --- revoke-psre ----------------------------------------------------------------------------------
def _revoke_psre_check(view: PreflightView, st: StepSpec) -> list[str]:
    if not st.ca:
        return []
    row = _recognized(view.store, st.ca)
    if row is None:
        return [f"{st.where}: no recognized PSrE named '{st.ca}'"]
    if row.status == "withdrawn":
        return [f"{st.where}: '{st.ca}' is already withdrawn"]
    if st.issuer and ca_exists(view.store, st.issuer):
        if view.store.get_ca(st.issuer).id != row.issuer_id:
            return [f"{st.where}: '{st.ca}' was not certified by {st.issuer}"]
    return _ca_status_check(view, dataclasses.replace(st, serial=row.serial_hex, type="revoke-ca"))


def _revoke_psre(ctx: StepContext, st: StepSpec) -> None:
    assert st.ca
    row = _recognized(ctx.store, st.ca)
    if row is None:
        raise CeremonyError(f"no recognized PSrE named '{st.ca}'")
    # The Revoker marks the recognized CA withdrawn in the revocation's own transaction.
    _ca_status(ctx, dataclasses.replace(st, serial=row.serial_hex, type="revoke-ca"))
    after = _recognized(ctx.store, st.ca)
    assert after is not None and after.withdrawn_at is not None
    ctx.record(
        "psre.withdraw",
        audit_objects.recognized(st.ca),
        {"status": after.status, "reason": st.reason, "withdrawn_at": _z(after.withdrawn_at)},
    )


def _copy_recognized(real: Store, scratch: Store, st: StepSpec) -> None:
    """Dry run: the recognized row and its certificate row, under the scratch issuer."""
    if not st.ca or not st.issuer:
        return
    row = _recognized(real, st.ca)
    if row is None or _recognized(scratch, st.ca) is not None:
        return
    cert = real.get_certificate(row.issuer_id, row.serial_hex)
    dry_copies.copy_recognized(scratch, row, cert, scratch.get_ca(st.issuer).id)


# --- cross-certify --------------------------------------------------------------------------------
def _cross_certify_check(view: PreflightView, st: StepSpec) -> list[str]:
    problems = _recognized_name_check(view, st)
    if (st.csr is None) == (st.certificate is None):
        problems.append(
            f"{st.where}: give the foreign root as either 'csr' or 'certificate' (one of them)"
        )
    return problems


def _cross_certify(ctx: StepContext, st: StepSpec) -> None:
    assert st.issuer
    ctx.at("reading the foreign root")
    self_signed = None
    if st.csr is not None:
        csr = _csr(ctx, st.csr)
        subject, pub, source = csr.subject, csr.public_key(), audit_objects.ceremony_file(st.csr)
    else:
        assert st.certificate is not None
        self_signed = _self_signed(ctx, st.certificate)
        subject, pub, source = (
            self_signed.subject,
            self_signed.public_key(),
            audit_objects.ceremony_file(st.certificate),
        )
    _subject_matches(ctx, st, subject, "foreign root")
    _not_our_key(ctx, pub)
    ctx.record(
        "csr.accept" if st.csr else "certificate.accept",
        source,
        {
            "subject": subject.rfc4514_string(),
            "spki_sha256": spki_sha256(pub),
            "proof_of_possession": "signature verified",
        },
    )
    cert = _issue(ctx, st, pub)
    _recognize(ctx, st, cert, "foreign-root", self_signed)
    ctx.at("reverse CSR")
    # The other direction: our root's own subject and key, for the foreign root to certify.
    ours = ctx.store.get_ca(st.issuer)
    assert ours.certificate_der is not None
    our_cert = x509.load_der_x509_certificate(ours.certificate_der)
    key = private_key(ctx.backend, ours.key_label)
    reverse = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(our_cert.subject)
        .sign(key, default_hash(key))
    )
    ctx.record(
        "csr.create",
        audit_objects.key(ours.key_label),
        {
            "subject": our_cert.subject.rfc4514_string(),
            "spki_sha256": spki_sha256(reverse.public_key()),
            "for": "the foreign root, to certify our root (reverse direction)",
        },
    )
    ctx.write_output(st, "reverse_csr", reverse.public_bytes(_PEM))


# --- import-ca-cert -------------------------------------------------------------------------------
def _import_check(view: PreflightView, st: StepSpec) -> list[str]:
    if st.certificate is not None and not st.certificate.exists():
        return [f"{st.where}: input {st.certificate} does not exist"]
    return []


def _import_ca_cert(ctx: StepContext, st: StepSpec) -> None:
    """Install our CA's certificate issued by another CA (the Induk): its key must be ours."""
    assert st.ca and st.key_label and st.certificate
    ctx.at("reading certificate")
    certs = _certificates(ctx, st.certificate)
    cert = certs[0]
    try:
        ours = ctx.backend.public_key(st.key_label)
    except Exception as ex:
        raise CeremonyError(f"no key '{st.key_label}' on this token: {ex}") from None
    if spki_sha256(ours) != spki_sha256(cert.public_key()):
        raise CeremonyError(
            f"the certificate does not certify key '{st.key_label}' of this token "
            "(public keys differ)"
        )
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        bc, ku = None, None
    if bc is None or not bc.ca or ku is None or not ku.key_cert_sign:
        raise CeremonyError("not a CA certificate (basicConstraints cA and keyCertSign needed)")
    now = ctx.issuer.clock()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CeremonyError("the certificate is not within its validity now")
    anchor: x509.Certificate | None = None
    if len(certs) > 1:
        anchor = certs[1]
        try:
            cert.verify_directly_issued_by(anchor)
        except (InvalidSignature, ValueError, TypeError):
            raise CeremonyError(
                "the certificate is not signed by the next one in the file"
            ) from None
    der = cert.public_bytes(_DER)
    ctx.at("CA record")
    ctx.made_cas.append(st.ca)
    parent_id = _external_anchor(ctx, anchor) if anchor is not None else None
    ctx.store.add_ca(
        st.ca,
        cert.subject.rfc4514_string(),
        st.key_label,
        _spec_of(cert.public_key()).value,
        parent_id=parent_id,
        certificate_der=der,
    )
    details = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_verified": anchor.subject.rfc4514_string() if anchor is not None else None,
        "serial": format(cert.serial_number, "x"),
        "fingerprint_sha256": hashlib.sha256(der).hexdigest(),
        "spki_sha256": spki_sha256(ours),
        "key_label": st.key_label,
        "not_after": _z(cert.not_valid_after_utc),
    }
    ctx.store.audit.append(ctx.actor, "ca.import", audit_objects.ca(st.ca), details)
    ctx.record("certificate.import", audit_objects.ca(st.ca), details)


def _external_anchor(ctx: StepContext, anchor: x509.Certificate) -> int:
    """The CA record of the certificate above ours (the Induk's root), status ``external``:
    kept as our trust anchor and parent; its key is not ours, so nothing signs with it and no
    CRL or OCSP answer is made for it (those services serve ``active`` CAs only)."""
    der = anchor.public_bytes(_DER)
    return ca_records.external_anchor(
        ctx.store,
        der=der,
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        subject_dn=anchor.subject.rfc4514_string(),
        key_spec=_spec_of(anchor.public_key()).value,
        actor=ctx.actor,
    )


_DATED = ("profile", "subject", "not_before", "not_after")

register(
    StepType(
        "certify-psre",
        ("ca", "issuer", "csr", *_DATED),
        ("service_url",),
        ("certificate",),
        "intermediate",
        _certify_psre,
        check=_recognized_name_check,
        role="subordinate-ca",  # the constraints a PSrE or foreign root gets are the profile's
        summary="the root certifies a licensed PSrE's CA from its CSR (key in the PSrE's HSM)",
    )
)
register(
    StepType(
        "revoke-psre",
        ("ca", "issuer", "reason"),
        ("next_update",),
        ("crl",),
        None,
        _revoke_psre,
        check=_revoke_psre_check,
        dry_copy=_copy_recognized,
        summary="revoke a recognized PSrE's CA certificate, re-sign the ARL, withdraw it",
    )
)
register(
    StepType(
        "cross-certify",
        ("ca", "issuer", *_DATED),
        ("csr", "certificate", "service_url"),
        ("certificate", "reverse_csr"),
        "intermediate",
        _cross_certify,
        check=_cross_certify_check,
        role="cross-ca",  # the constraints a PSrE or foreign root gets are the profile's
        summary="the root cross-certifies a foreign root; a CSR of our root for the reverse",
    )
)
register(
    StepType(
        "import-ca-cert",
        ("ca", "key_label", "certificate"),
        (),
        (),
        None,
        _import_ca_cert,
        check=_import_check,
        makes_ca=True,
        summary="install our CA's certificate issued by another CA (key on this token)",
    )
)
