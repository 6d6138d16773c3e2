"""A PKI with a delegated OCSP responder and a few subscriber certificates, for the OCSP tests.

Module-scoped (building it costs a few seconds of HSM work): tests that change a certificate's
status issue a fresh certificate of their own with ``OcspPki.new_cert``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca_core.issuer import IssueRequest
from ca_core.store import Store
from hsm.backend import KeySpec
from hsm.pkcs11_backend import Pkcs11Backend
from ocsp.responses import Presigner, PresignSettings
from tests.pki_support import Pki, build_pki


@dataclass
class OcspPki:
    pki: Pki
    signer_label: str
    signer_cert: x509.Certificate
    presigner: Presigner
    tmp: Path

    @property
    def store(self) -> Store:
        return self.pki.store

    def new_cert(self) -> x509.Certificate:
        email = f"u{secrets.token_hex(4)}@kemenuji.go.id"
        issued = self.pki.issuer.issue(
            self.pki.issuing,
            IssueRequest(
                profile="smime-mailbox",
                subject={"CN": email},
                emails=[email],
                public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            ),
        )
        return issued.certificate

    def pem(self, name: str, *certs: x509.Certificate) -> Path:
        path = self.tmp / name
        path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return path


def build_ocsp_pki(db_url: str, backend: Pkcs11Backend, tmp: Path) -> OcspPki:
    store = Store.open(db_url)
    pki = build_pki(store, backend)
    label = f"ocsp-{secrets.token_hex(3)}"
    backend.generate(label, KeySpec.EC_P256)
    issued = pki.issuer.issue(
        pki.issuing,
        IssueRequest(
            profile="ocsp-signer",
            subject={"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji OCSP Responder"},
            public_key=backend.public_key(label),  # type: ignore[arg-type]
            key_label=label,
            validity_days=30,
        ),
    )
    settings = PresignSettings(static_root=tmp / "public")
    return OcspPki(pki, label, issued.certificate, Presigner(store, backend, settings), tmp)
