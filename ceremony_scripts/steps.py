"""The step types a ceremony file may use, as a registry.

A step type names the file keys it needs, the outputs it writes and the profile kind it expects,
and has one ``run`` function. :func:`register` adds a type, so a new one (such as ``root-crl``,
the root's CRL made by the CRL service) is one function and one ``register`` call; nothing in
the runner changes.

CAs are made by ``ca_core.authority`` (``create_root``, ``certify_issuing``: the one way to make
a CA, which the CLI and the tests use too), every other certificate by
``ca_core.issuer.Issuer.issue``, so each one is linted before the HSM signs it, reserved,
verified, stored and audited like any other. Delegated OCSP and TSA certificates are stored
with ``key_label`` = their HSM key label (the contract the OCSP and signing services rely on:
they look up the profiles of role ``ocsp-responder`` / ``tsa`` with that issuer and read
``key_label``). A step type that needs a profile of a given role says so (``StepType.role``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca_core import audit_objects
from ca_core.authority import CaSpec, Hooks, certify_issuing, create_root
from ca_core.ca_level import CA_LEVEL_PROFILES, Authorisation
from ca_core.errors import NotFoundError
from ca_core.issuer import Issued, Issuer, IssueRequest
from ca_core.keycheck import spki_sha256
from ca_core.store import ReadOnlyStore, Store, ca_records
from ca_core.store.models import Certificate
from ceremony_scripts.errors import CeremonyError
from ceremony_scripts.recording import RecordingBackend
from ceremony_scripts.spec import Ceremony, StepSpec
from ceremony_scripts.transcript import TranscriptWriter
from hsm.backend import KeyInfo, KeySpec
from hsm.keys import default_hash, private_key
from policies.errors import ExtensionError, SubjectError
from policies.schema import Profile, Role
from policies.subject import build_subject

#: Test hook, like ca_core.issuer's PSRE_FAULT: ``PSRE_CEREMONY_FAULT=<step>:<stage>`` raises at
#: that point of that step, to test a ceremony that fails half-way.
FAULT_ENV = "PSRE_CEREMONY_FAULT"


@dataclass
class StepContext:
    """What a step function works with. ``remap`` moves output paths (dry runs)."""

    ceremony: Ceremony
    store: Store
    backend: RecordingBackend
    issuer: Issuer
    profiles: Mapping[str, Profile]
    transcript: TranscriptWriter
    actor: str
    remap: Callable[[Path], Path] = lambda p: p
    #: Keys generated and CAs recorded by the step being run (for clean-up if it fails).
    made_keys: list[str] = field(default_factory=list)
    made_cas: list[str] = field(default_factory=list)
    stage: str = "start"
    step: StepSpec | None = None
    produced: list[dict[str, Any]] = field(default_factory=list)

    def at(self, stage: str) -> None:
        """Enter ``stage`` of the current step (named in the transcript if the step fails)."""
        self.stage = stage
        assert self.step is not None
        if os.environ.get(FAULT_ENV) == f"{self.step.number}:{stage}":
            raise CeremonyError(f"injected fault ({FAULT_ENV}) at step {self.step.number} {stage}")

    def record(self, action: str, obj: str, details: Mapping[str, Any]) -> None:
        assert self.step is not None
        self.transcript.append(self.actor, action, obj, {"step": self.step.number, **details})

    def ca_hooks(self) -> Hooks:
        """How ca_core.authority reports a CA's creation to this step: its stages, and the
        CA record it is about to write (removed again if the step fails)."""
        return Hooks(stage=self.at, recording_ca=self.made_cas.append)

    def generate(self, st: StepSpec) -> KeyInfo:
        assert st.key_label and st.key_type
        self.at("key generation")
        self.made_keys.append(st.key_label)
        info = self.backend.generate(st.key_label, st.key_type)
        pub = self.backend.public_key(st.key_label)
        self.record(
            "key.generate",
            audit_objects.key(st.key_label),
            {
                "label": st.key_label,
                "key_type": info.spec.value,
                "key_id": info.key_id.hex(),
                "sensitive": info.sensitive,
                "extractable": info.extractable,
                "spki_sha256": spki_sha256(pub),
                "public_key_pem": _pem_public(pub),
            },
        )
        if not info.sensitive or info.extractable:
            raise CeremonyError(f"key '{st.key_label}' is not sensitive and non-extractable")
        self.at("after key generation")
        return info

    def write_output(self, st: StepSpec, role: str, data: bytes) -> Path:
        self.at(f"writing {role}")
        path = self.remap(st.outputs[role])
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise CeremonyError(f"output {path} already exists: never overwritten") from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        digest = hashlib.sha256(data).hexdigest()
        self.record(
            "output.write",
            audit_objects.ceremony_file(path),
            {"role": role, "path": str(path), "sha256": digest, "bytes": len(data)},
        )
        self.produced.append({"step": st.number, "role": role, "path": str(path), "sha256": digest})
        return path

    def certificate(self, st: StepSpec, issued: Issued, issuer_cert: x509.Certificate) -> None:
        cert = issued.certificate
        if cert.not_valid_before_utc != st.not_before or cert.not_valid_after_utc != st.not_after:
            raise CeremonyError(
                f"certificate validity {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}.."
                f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ} differs from the file's"
            )
        self.record(
            "certificate.issue",
            audit_objects.certificate(issued.issuer_name, issued.serial_hex),
            {
                "role": "certificate",
                "path": str(self.remap(st.outputs["certificate"])),
                "issuer_ca": issued.issuer_name,
                "profile": issued.profile,
                "serial": issued.serial_hex,
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "not_before": _z(cert.not_valid_before_utc),
                "not_after": _z(cert.not_valid_after_utc),
                "fingerprint_sha256": issued.fingerprint_sha256,
                "spki_sha256": spki_sha256(cert.public_key()),
                "key_label": st.key_label,
                "issuer_certificate_der": base64.b64encode(
                    issuer_cert.public_bytes(serialization.Encoding.DER)
                ).decode(),
            },
        )
        self.write_output(st, "certificate", cert.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class StepType:
    name: str
    #: File keys the step needs (besides ``type``/``title``); any other key is refused.
    required: tuple[str, ...]
    optional: tuple[str, ...]
    #: Output roles, each a path under ``outputs``.
    outputs: tuple[str, ...]
    #: The profile kind the step's ``profile`` must have, if it takes one.
    profile_kind: str | None
    run: Callable[[StepContext, StepSpec], None]
    #: Extra checks before anything runs: returns the problems found.
    check: Callable[[PreflightView, StepSpec], list[str]] | None = None
    #: Whether the step makes a key pair (``key_label`` must be new) / a CA (``ca`` must be new).
    makes_key: bool = False
    makes_ca: bool = False
    summary: str = ""
    #: Dry run: copy what the step reads from the real store into the scratch one.
    dry_copy: Callable[[Store, Store, StepSpec], None] | None = None
    #: The role the step's profile must have: the services find their certificates by it
    #: (OCSP responder, TSA, trusted-list signer), or the step makes that kind of CA.
    role: Role | None = None


STEP_TYPES: dict[str, StepType] = {}


def register(step_type: StepType, *aliases: str) -> StepType:
    for name in (step_type.name, *aliases):
        if name in STEP_TYPES:
            raise ValueError(f"step type {name!r} registered twice")
        STEP_TYPES[name] = step_type
    return step_type


@dataclass
class PreflightView:
    """What the checks may look at: the real store and token, read only."""

    store: Store
    backend: RecordingBackend | None
    profiles: Mapping[str, Profile]


# --- the steps ------------------------------------------------------------------------------------
def _root_key(ctx: StepContext, st: StepSpec) -> None:
    assert st.ca and st.key_label and st.key_type
    ctx.generate(st)
    ctx.at("root certificate")
    issued = create_root(
        ctx.store,
        ctx.backend,
        ctx.issuer,
        CaSpec(
            st.ca,
            st.key_label,
            st.key_type,
            st.subject,
            validity_days=st.validity_days,
            not_before=st.not_before,
        ),
        actor=ctx.actor,
        hooks=ctx.ca_hooks(),
    )
    ctx.certificate(st, issued, issued.certificate)
    if "public_key" in st.outputs:
        ctx.write_output(st, "public_key", _pem_public(issued.certificate.public_key()).encode())


def _intermediate_key(ctx: StepContext, st: StepSpec) -> None:
    assert st.key_label and st.profile
    ctx.generate(st)
    ctx.at("CSR")
    key = private_key(ctx.backend, st.key_label)
    name = build_subject(ctx.profiles[st.profile], st.subject)
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, default_hash(key))
    ctx.record(
        "csr.create",
        audit_objects.key(st.key_label),
        {"subject": name.rfc4514_string(), "spki_sha256": spki_sha256(csr.public_key())},
    )
    ctx.write_output(st, "csr", csr.public_bytes(serialization.Encoding.PEM))


def _intermediate_cert(ctx: StepContext, st: StepSpec) -> None:
    """The parent CA certifies a new CA's key from its CSR (the key may be on another HSM)."""
    assert st.ca and st.issuer and st.csr and st.profile and st.key_label
    ctx.at("reading CSR")
    path = ctx.remap(st.csr)
    if not path.exists():  # an input made before this ceremony, not by one of its steps
        path = st.csr
    try:
        csr = x509.load_pem_x509_csr(path.read_bytes())
    except (OSError, ValueError) as ex:
        raise CeremonyError(f"cannot read CSR {path}: {ex}") from None
    if not csr.is_signature_valid:
        raise CeremonyError(f"CSR {path} has an invalid signature")
    pub = csr.public_key()
    try:
        subject = build_subject(ctx.profiles[st.profile], st.subject)
    except (SubjectError, ExtensionError) as ex:
        raise CeremonyError(f"{ex.field}: {ex.reason}") from None
    if csr.subject != subject:
        raise CeremonyError(
            f"the CSR's subject {csr.subject.rfc4514_string()} is not the file's "
            f"{subject.rfc4514_string()}"
        )
    try:
        on_token = ctx.backend.public_key(st.key_label)
    except Exception:
        on_token = None
    if on_token is not None and spki_sha256(on_token) != spki_sha256(pub):
        raise CeremonyError(f"the CSR's key is not key '{st.key_label}' on this token")
    ctx.record(
        "csr.accept",
        audit_objects.ceremony_file(path),
        {
            "subject": csr.subject.rfc4514_string(),
            "spki_sha256": spki_sha256(pub),
            "key_on_this_token": on_token is not None,
        },
    )
    issued = certify_issuing(
        ctx.store,
        ctx.issuer,
        CaSpec(
            st.ca,
            st.key_label,
            _spec_of(pub),
            st.subject,
            validity_days=st.validity_days,
            not_before=st.not_before,
        ),
        pub,
        parent=st.issuer,
        actor=ctx.actor,
        profile=st.profile,
        subject_dn=subject.rfc4514_string(),
        hooks=ctx.ca_hooks(),
    )
    parent = ctx.store.get_ca(st.issuer)
    assert parent.certificate_der is not None
    ctx.certificate(st, issued, x509.load_der_x509_certificate(parent.certificate_der))


def _delegated(ctx: StepContext, st: StepSpec) -> None:
    """A delegated certificate (OCSP responder, TSA) for a new HSM key, by ``issuer``."""
    assert st.issuer and st.key_label and st.profile
    ctx.generate(st)
    ctx.at("certificate")
    issued = ctx.issuer.issue(
        st.issuer,
        IssueRequest(
            profile=st.profile,
            subject=st.subject,
            public_key=ctx.backend.public_key(st.key_label),  # type: ignore[arg-type]
            validity_days=st.validity_days,
            not_before=st.not_before,
            key_label=st.key_label,
            actor=ctx.actor,
        ),
    )
    parent = ctx.store.get_ca(st.issuer)
    assert parent.certificate_der is not None
    ctx.certificate(st, issued, x509.load_der_x509_certificate(parent.certificate_der))


def _root_crl(ctx: StepContext, st: StepSpec) -> None:
    """The root's CRL (the ARL), signed during the ceremony, its nextUpdate from the file.

    Made by the CRL service's own code (crl.publish), so it is numbered in the root's sequence,
    linted before the HSM signs it, recorded as the published ARL and audited.
    """
    assert st.issuer and st.next_update
    _sign_crl(ctx, st, st.issuer, st.next_update)


def _sign_crl(ctx: StepContext, st: StepSpec, ca: str, next_update: dt.datetime | None) -> None:
    """Sign and publish ``ca``'s complete CRL now and write it to the step's ``crl`` output
    (``next_update`` None: the CRL service's configured validity)."""
    from ca_core.config import CrlConfig
    from crl.publish import CrlPublisher, crl_der

    ctx.at("CRL")
    publisher = CrlPublisher(
        ctx.store,
        ctx.backend,
        CrlConfig(delta=False),
        base_url=ctx.issuer.base_url,
        public_dir=None,
        clock=ctx.issuer.clock,
    )
    infos = publisher.publish(
        ca, partitions=(), delta=False, next_update=next_update, actor=ctx.actor
    )
    info = next(i for i in infos if i.kind == "full")
    der = crl_der(ctx.store, info.id)
    assert der is not None
    ctx.record(
        "crl.sign",
        audit_objects.crl(ca),
        {
            "issuer_ca": ca,
            "number": info.number,
            "entries": info.entries,
            "this_update": _z(info.this_update),
            "next_update": _z(info.next_update),
            "sha256": info.sha256,
        },
    )
    ctx.write_output(st, "crl", der)


# --- CA-level status changes (revoke-ca, suspend-ca, release-ca) ------------------------------
#: Step type → what the Revoker does and the transcript/audit action it records.
_STATUS_ACTIONS = {
    "revoke-ca": "certificate.revoke",
    "suspend-ca": "certificate.suspend",
    "release-ca": "certificate.unsuspend",
}


def _ca_level_row(store: Store, issuer: str, serial: str) -> Certificate:
    ca = store.get_ca(issuer)
    cert = store.get_certificate(ca.id, serial)
    # CA-level by profile, or because it is a CA's own certificate (whatever profile made it).
    if cert.profile not in CA_LEVEL_PROFILES and not ca_records.is_ca_fingerprint(
        store, cert.fingerprint_sha256
    ):
        raise CeremonyError(
            f"certificate {serial} of {issuer} ({cert.profile}) is not CA-level: end-entity "
            "certificates are revoked with `psre revoke`, not in a ceremony"
        )
    return cert


def _ca_status_check(view: PreflightView, st: StepSpec) -> list[str]:
    if not st.issuer or not st.serial or not ca_exists(view.store, st.issuer):
        return []  # reported by the generic checks
    try:
        cert = _ca_level_row(view.store, st.issuer, st.serial)
    except (CeremonyError, NotFoundError) as ex:
        return [f"{st.where}: {ex}"]
    if cert.status == "revoked":
        return [f"{st.where}: certificate {st.serial} is already revoked"]
    if st.type == "release-ca" and cert.status != "hold":
        return [f"{st.where}: certificate {st.serial} is {cert.status}, not on hold"]
    if st.type == "suspend-ca" and cert.status == "hold":
        return [f"{st.where}: certificate {st.serial} is already on hold"]
    return []


def _ca_status(ctx: StepContext, st: StepSpec) -> None:
    """Revoke, suspend or release a CA-level certificate, then re-sign its OCSP responses and
    its issuer's CRL at once, all under the witnesses of this step.

    The change carries a ceremony Authorisation naming the operator and the witnesses: the one
    way besides two admins (ca_core.approvals) that the Revoker accepts for such a certificate.
    """
    from ca_core.revocation import Revoker
    from ocsp.responses import Presigner, PresignSettings

    assert st.issuer and st.serial
    ctx.at("status change")
    cert = _ca_level_row(ctx.store, st.issuer, st.serial)
    c = ctx.ceremony
    authorisation = Authorisation(
        "ceremony",
        f"{audit_objects.ceremony(c.name)}:{audit_objects.ceremony_step(st.number)}",
        (c.operator, *c.witnesses),
    )
    revoker = Revoker(ctx.store, ctx.issuer.recover, clock=ctx.issuer.clock)
    if st.type == "revoke-ca":
        assert st.reason
        change = revoker.revoke(
            st.serial, st.reason, actor=ctx.actor, ca=st.issuer, authorisation=authorisation
        )
    elif st.type == "suspend-ca":
        change = revoker.suspend(
            st.serial, actor=ctx.actor, ca=st.issuer, authorisation=authorisation
        )
    else:
        change = revoker.unsuspend(
            st.serial, actor=ctx.actor, ca=st.issuer, authorisation=authorisation
        )
    ctx.record(
        _STATUS_ACTIONS[st.type],
        audit_objects.certificate(st.issuer, change.serial_hex),
        {
            "issuer_ca": st.issuer,
            "serial": change.serial_hex,
            "subject": cert.subject_dn,
            "profile": cert.profile,
            "status": change.status,
            "reason": change.reason,
            "revoked_at": _z(change.revoked_at) if change.revoked_at else None,
            "changed": change.changed,
        },
    )
    ctx.at("OCSP")
    # Re-signed here, not left to a listener: the ceremony process has no publishers attached.
    presigner = Presigner(ctx.store, ctx.backend, PresignSettings(), clock=ctx.issuer.clock)
    signed = presigner.presign_certificate(st.issuer, change.serial_hex)
    ctx.record(
        "ocsp.presign",
        audit_objects.certificate(st.issuer, change.serial_hex),
        {"responses": signed, "cert_status": change.status},
    )
    _sign_crl(ctx, st, st.issuer, st.next_update)


_WRAP_MECHS = ("AES_KEY_WRAP", "AES_KEY_WRAP_PAD", "RSA_PKCS_OAEP")


def _key_backup_check(view: PreflightView, st: StepSpec) -> list[str]:
    """Wrapping needs a key with CKA_EXTRACTABLE true; psre never makes one (see hsm/)."""
    if view.backend is None:
        return [f"{st.where}: key-backup needs the token to check the key (no login)"]
    assert st.key_label
    try:
        info = view.backend.info(st.key_label)
    except Exception as ex:
        return [f"{st.where}: {ex}"]
    mechs = {m.name for m in view.backend.mechanisms()}
    wrap = [m for m in _WRAP_MECHS if m in mechs]
    if info.extractable:
        return [
            f"{st.where}: key '{st.key_label}' is extractable, which psre never allows for a CA "
            "key; refusing to back it up by wrapping"
        ]
    return [
        f"{st.where}: key-backup refused: key '{st.key_label}' is non-extractable "
        f"(CKA_EXTRACTABLE=false, as psre generates every key), and PKCS#11 forbids wrapping "
        f"such a key; the token offers {', '.join(wrap) or 'no wrapping mechanism'}, but "
        "C_WrapKey would fail with CKR_KEY_UNEXTRACTABLE. Back CA keys up with the HSM vendor's "
        "dual-control backup/cloning (e.g. a backup HSM), outside this tool."
    ]


def _key_backup(ctx: StepContext, st: StepSpec) -> None:  # pragma: no cover - refused earlier
    raise CeremonyError(f"{st.where}: key-backup is refused (see the preflight message)")


_DATED = ("profile", "subject", "not_before", "not_after")

register(
    StepType(
        "root-key",
        ("ca", "key_label", "key_type", *_DATED),
        (),
        ("certificate",),
        "root",
        _root_key,
        role="ca",
        makes_key=True,
        makes_ca=True,
        summary="root key pair in the HSM and the self-signed root certificate",
    )
)
register(
    StepType(
        "intermediate-key",
        ("key_label", "key_type", "profile", "subject"),
        (),
        ("csr",),
        "intermediate",
        _intermediate_key,
        makes_key=True,
        summary="issuing CA key pair in the HSM and its CSR",
    )
)
register(
    StepType(
        "intermediate-cert",
        ("ca", "issuer", "key_label", "csr", *_DATED),
        (),
        ("certificate",),
        "intermediate",
        _intermediate_cert,
        makes_ca=True,
        summary="the parent CA certifies an issuing CA key from its CSR",
    ),
    "cross-sign",
)
register(
    StepType(
        "ocsp-signer",
        ("issuer", "key_label", "key_type", *_DATED),
        (),
        ("certificate",),
        "end-entity",
        _delegated,
        role="ocsp-responder",
        makes_key=True,
        summary="delegated OCSP responder key and certificate",
    )
)
register(
    StepType(
        "tsa",
        ("issuer", "key_label", "key_type", *_DATED),
        (),
        ("certificate",),
        "end-entity",
        _delegated,
        role="tsa",
        makes_key=True,
        summary="time-stamping unit key and certificate",
    )
)
register(
    StepType(
        "tl-signer",
        ("issuer", "key_label", "key_type", *_DATED),
        (),
        ("certificate",),
        "end-entity",
        _delegated,
        role="trusted-list-signer",
        makes_key=True,
        summary="the national trusted list's signing key and certificate (ETSI TS 119 612)",
    )
)
register(
    StepType(
        "root-crl",
        ("issuer", "next_update"),
        (),
        ("crl",),
        None,
        _root_crl,
        summary="the root's CRL (ARL), signed in the ceremony",
    )
)
for _name, _what in (
    ("revoke-ca", "revoke a CA-level certificate (CA, OCSP responder, TSA), then CRL and OCSP"),
    ("suspend-ca", "suspend a CA-level certificate (hold), then CRL and OCSP"),
    ("release-ca", "release a CA-level certificate from hold, then CRL and OCSP"),
):
    register(
        StepType(
            _name,
            ("issuer", "serial", "reason") if _name == "revoke-ca" else ("issuer", "serial"),
            ("next_update",),
            ("crl",),
            None,
            _ca_status,
            check=_ca_status_check,
            summary=_what,
        )
    )
register(
    StepType(
        "key-backup",
        ("key_label",),
        (),
        ("wrapped",),
        None,
        _key_backup,
        check=_key_backup_check,
        summary="back up a key by wrapping it (refused: psre keys are non-extractable)",
    )
)


def _issuance_switch(ctx: StepContext, st: StepSpec) -> None:
    """From ``switch_at`` the new issuing CA ``ca`` issues instead of ``replaces``, which keeps
    publishing CRLs and OCSP until its last certificate has expired (ca_core.rollover)."""
    from ca_core.rollover import switch

    assert st.ca and st.replaces and st.switch_at
    ctx.at("issuance switch")
    switch(ctx.store, old=st.replaces, new=st.ca, at=st.switch_at, actor=ctx.actor)
    ctx.record(
        "ca.issuance_switch",
        audit_objects.ca(st.ca),
        {"replaces": st.replaces, "at": _z(st.switch_at)},
    )


def _issuance_switch_check(view: PreflightView, st: StepSpec) -> list[str]:
    if not st.replaces:
        return []
    if not ca_exists(view.store, st.replaces):
        return [f"{st.where}: replaces: no CA named {st.replaces}"]
    if view.store.get_ca(st.replaces).parent_id is None:
        return [f"{st.where}: replaces: {st.replaces} is a root, not an issuing CA"]
    return []


register(
    StepType(
        "issuance-switch",
        ("ca", "replaces", "switch_at"),
        (),
        (),
        None,
        _issuance_switch,
        check=_issuance_switch_check,
        summary="the new issuing CA issues from the stated time; the old one only publishes",
    )
)


# --- helpers ------------------------------------------------------------------------------------
def _pem_public(pub: Any) -> str:
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_of(pub: Any) -> KeySpec:
    if isinstance(pub, rsa.RSAPublicKey):
        return KeySpec.parse(f"rsa-{pub.key_size}")
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return {"secp256r1": KeySpec.EC_P256, "secp384r1": KeySpec.EC_P384}[pub.curve.name]
    raise CeremonyError("unsupported key type in CSR")


def ca_exists(store: ReadOnlyStore, name: str) -> bool:
    try:
        store.get_ca(name)
    except NotFoundError:
        return False
    return True
