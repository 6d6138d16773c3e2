"""Creating CAs: a key pair in the HSM, a CA record, and its certificate from the pipeline.

The key ceremonies drive these steps with witnesses and a transcript; the functions here are the
mechanism they (and ``psre ca create-*``) share. A CA certificate goes through the same
lint-before-sign path as any other: the root's is self-signed with the ``root-ca`` profile, an
issuing CA's is issued by its parent with ``issuing-ca`` and stored under the parent, so the
parent's CRL (the ARL) can revoke it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca_core import audit_objects
from ca_core.errors import NotFoundError
from ca_core.issuer import Issued, Issuer, IssueRequest
from ca_core.store import Store
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
    store: Store, backend: KeyBackend, issuer: Issuer, spec: CaSpec, *, actor: str
) -> Issued:
    _key(backend, spec.key_label, spec.key_spec)
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
    parent_ca = store.get_ca(parent)
    _key(backend, spec.key_label, spec.key_spec)
    store.add_ca(
        spec.name, _dn(spec.subject), spec.key_label, spec.key_spec.value, parent_id=parent_ca.id
    )
    store.audit.append(
        actor,
        "ca.create",
        audit_objects.ca(spec.name),
        {"key_label": spec.key_label, "role": "issuing", "parent": parent},
    )
    issued = issuer.issue(
        parent,
        IssueRequest(
            profile=one_with_role("ca", kind="intermediate", profiles=issuer.profiles).name,
            subject=spec.subject,
            public_key=backend.public_key(spec.key_label),  # type: ignore[arg-type]
            validity_days=spec.validity_days,
            not_before=spec.not_before,
            actor=actor,
        ),
    )
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    with store.session() as s:
        ca = s.query(CertificateAuthority).filter_by(name=spec.name).one()
        ca.certificate_der = der
        ca.fingerprint_sha256 = issued.fingerprint_sha256
        ca.subject_dn = issued.certificate.subject.rfc4514_string()
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
