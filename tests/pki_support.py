"""A real two-level PKI (root + issuing CA, keys in SoftHSM) over a real database, for tests."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca_core.authority import CaSpec, chain, create_issuing, create_root
from ca_core.issuer import Issuer
from ca_core.revocation import Revoker
from ca_core.store import Store
from hsm.backend import KeySpec
from hsm.pkcs11_backend import Pkcs11Backend
from policies.schema import Profile, load_profiles

BASE_URL = "http://pki.psre-uji.id"  # public-looking: the ETSI lint runs without waivers


@dataclass
class Pki:
    store: Store
    backend: Pkcs11Backend
    issuer: Issuer
    revoker: Revoker
    root: str
    issuing: str

    def chain_pem(self, path: Path) -> Path:
        """The issuing CA and the root, PEM, as `openssl verify -untrusted/-CAfile` want them."""
        certs = chain(self.store, self.issuing)
        path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return path

    def cert(self, name: str) -> x509.Certificate:
        return chain(self.store, name)[0]


def build_pki(
    store: Store,
    backend: Pkcs11Backend,
    spec: KeySpec = KeySpec.EC_P384,
    root_spec: KeySpec | None = None,
    profiles: Mapping[str, Profile] | None = None,
) -> Pki:
    """Root + issuing CA; ``root_spec`` defaults to ``spec`` (the root profile has no RSA-3072).

    ``profiles`` replaces the shipped profiles (benchmarks use a variant)."""
    tag = secrets.token_hex(3)
    issuer = Issuer(store, backend, profiles or load_profiles(), base_url=BASE_URL)
    create_root(
        store,
        backend,
        issuer,
        CaSpec(
            "root-ca",
            f"root-{tag}",
            root_spec or spec,
            {"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji Root CA"},
            validity_days=3650,
        ),
        actor="test",
    )
    create_issuing(
        store,
        backend,
        issuer,
        CaSpec(
            "issuing-ca",
            f"issuing-{tag}",
            spec,
            {"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji Issuing CA"},
            validity_days=1825,
        ),
        parent="root-ca",
        actor="test",
    )
    return Pki(store, backend, issuer, Revoker(store, issuer.recover), "root-ca", "issuing-ca")


@pytest.fixture
def pki(store: Store, backend: Pkcs11Backend) -> Pki:
    return build_pki(store, backend)


def add_tsa_unit(pki: Pki, spec: KeySpec = KeySpec.EC_P256) -> x509.Certificate:
    """A time-stamping unit for the issuing CA (profile "tsa", key in the HSM): what ``/tsa``
    and PAdES B-T and above sign with (signing_api.tsa picks the newest valid one)."""
    from ca_core.issuer import IssueRequest

    label = f"tsa-{secrets.token_hex(3)}"
    pki.backend.generate(label, spec)
    return pki.issuer.issue(
        pki.issuing,
        IssueRequest(
            profile="tsa",
            subject={"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji Time-Stamping Authority"},
            public_key=pki.backend.public_key(label),  # type: ignore[arg-type]
            validity_days=365,
            key_label=label,
            actor="test",
        ),
    ).certificate
