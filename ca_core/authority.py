"""Creating CAs: a key pair in the HSM, a CA record, and its certificate from the pipeline.

The one way to make a CA: the key ceremonies (ceremony_scripts.steps, with witnesses and a
transcript, through :class:`Hooks`), ``psre ca create-*`` and the tests' PKI all call these
functions. A CA certificate goes through the same lint-before-sign path as any other: the
root's is self-signed with the root CA profile, an issuing CA's is issued by its parent with an
intermediate CA profile and stored under the parent, so the parent's CRL (the ARL) can revoke it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ca_core import audit_objects
from ca_core.errors import NotFoundError
from ca_core.issuer import Issued, Issuer, IssueRequest
from ca_core.store import Store, ca_records
from ca_core.store.models import CertificateAuthority
from hsm.backend import KeyBackend, KeySpec
from hsm.errors import KeyNotFoundError
from policies.roles import one_with_role


@dataclass(frozen=True)
class CaSpec:
    name: str
    key_label: str
    key_spec: KeySpec
    subject: Mapping[str, str]
    validity_days: int | None = None
    not_before: dt.datetime | None = None


def _ignore(_what: str) -> None:
    pass


@dataclass(frozen=True)
class Hooks:
    """What a key ceremony follows of a CA's creation: each stage as it begins (its transcript
    names the stage a failure stopped at; its tests inject faults there), and the CA name just
    before the record is written (so a failed step removes a record left without certificate)."""

    stage: Callable[[str], None] = _ignore
    recording_ca: Callable[[str], None] = _ignore


NO_HOOKS = Hooks()


def _key(backend: KeyBackend, label: str, spec: KeySpec) -> None:
    """Use the key if the label exists with the right type (a ceremony may have made it)."""
    try:
        info = backend.info(label)
    except KeyNotFoundError:
        backend.generate(label, spec)
        return
    if info.spec is not spec:
        raise KeyNotFoundError(f"key '{label}' exists but is {info.spec.value}, not {spec.value}")


def create_root(
    store: Store,
    backend: KeyBackend,
    issuer: Issuer,
    spec: CaSpec,
    *,
    actor: str,
    hooks: Hooks = NO_HOOKS,
) -> Issued:
    """A root CA: its key (made here unless the label exists with the right type), its record,
    and its self-signed certificate."""
    _key(backend, spec.key_label, spec.key_spec)
    hooks.recording_ca(spec.name)
    store.add_ca(spec.name, _dn(spec.subject), spec.key_label, spec.key_spec.value)
    store.audit.append(
        actor,
        "ca.create",
        audit_objects.ca(spec.name),
        {"key_label": spec.key_label, "role": "root"},
    )
    return issuer.issue(
        spec.name,
        IssueRequest(
            profile=one_with_role("ca", kind="root", profiles=issuer.profiles).name,
            subject=spec.subject,
            public_key=backend.public_key(spec.key_label),  # type: ignore[arg-type]
            validity_days=spec.validity_days,
            not_before=spec.not_before,
            actor=actor,
        ),
        self_signed=True,
    )


def create_issuing(
    store: Store,
    backend: KeyBackend,
    issuer: Issuer,
    spec: CaSpec,
    *,
    parent: str,
    actor: str,
) -> Issued:
    """An issuing CA whose key is on this token (made here unless the label exists with the
    right type), certified by ``parent``: :func:`certify_issuing` with that key."""
    store.get_ca(parent)  # no key is made for a CA whose parent does not exist
    _key(backend, spec.key_label, spec.key_spec)
    public_key = backend.public_key(spec.key_label)
    return certify_issuing(
        store,
        issuer,
        spec,
        public_key,  # type: ignore[arg-type]
        parent=parent,
        actor=actor,
    )


def certify_issuing(
    store: Store,
    issuer: Issuer,
    spec: CaSpec,
    public_key: CertificatePublicKeyTypes,
    *,
    parent: str,
    actor: str,
    profile: str | None = None,
    subject_dn: str | None = None,
    hooks: Hooks = NO_HOOKS,
) -> Issued:
    """Record CA ``spec.name`` under ``parent`` and have the parent certify ``public_key``
    (the CA's key ``spec.key_label``: on this token, or — from a CSR in a ceremony — on
    another HSM). ``profile`` defaults to the one intermediate CA profile; ``subject_dn`` is
    the record's subject until the certificate's own replaces it."""
    parent_ca = store.get_ca(parent)
    hooks.stage("CA record")
    hooks.recording_ca(spec.name)
    store.add_ca(
        spec.name,
        subject_dn or _dn(spec.subject),
        spec.key_label,
        spec.key_spec.value,
        parent_id=parent_ca.id,
    )
    store.audit.append(
        actor,
        "ca.create",
        audit_objects.ca(spec.name),
        {"key_label": spec.key_label, "role": "issuing", "parent": parent},
    )
    hooks.stage("CA certificate")
    issued = issuer.issue(
        parent,
        IssueRequest(
            profile=profile
            or one_with_role("ca", kind="intermediate", profiles=issuer.profiles).name,
            subject=spec.subject,
            public_key=public_key,
            validity_days=spec.validity_days,
            not_before=spec.not_before,
            actor=actor,
        ),
    )
    ca_records.set_certificate(
        store,
        spec.name,
        der=issued.certificate.public_bytes(serialization.Encoding.DER),
        fingerprint_sha256=issued.fingerprint_sha256,
        subject_dn=issued.certificate.subject.rfc4514_string(),
    )
    return issued


def chain(store: Store, name: str) -> list[x509.Certificate]:
    """The CA's certificate followed by its parents' up to the root."""
    out: list[x509.Certificate] = []
    by_id = {ca.id: ca for ca in store.list_cas()}
    ca: CertificateAuthority | None = store.get_ca(name)
    while ca is not None:
        if ca.certificate_der is None:
            raise NotFoundError(f"CA {ca.name} has no certificate yet")
        out.append(x509.load_der_x509_certificate(ca.certificate_der))
        ca = by_id.get(ca.parent_id) if ca.parent_id is not None else None
    return out


def _dn(subject: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in subject.items())
