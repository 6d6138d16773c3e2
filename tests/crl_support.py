"""A test PKI with a CRL publisher over it, and helpers to issue, revoke and read CRLs."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca_core.config import CrlConfig
from ca_core.issuer import Issued, IssueRequest
from crl.publish import CrlPublisher, newest_crl
from tests.pki_support import BASE_URL, Pki


@dataclass
class CrlPki:
    pki: Pki
    publisher: CrlPublisher
    public_dir: Path

    def issue(self, **kw: object) -> Issued:
        """A natural-person certificate from the issuing CA."""
        nik = "3174" + "".join(secrets.choice("0123456789") for _ in range(12))
        key = ec.generate_private_key(ec.SECP256R1())
        req = IssueRequest(
            profile="natural-person",
            subject={
                "C": "ID",
                "O": "Kementerian Uji",
                "givenName": "Budi",
                "surname": "Santoso",
                "serialNumber": f"PNOID-{nik}",
                "CN": "Budi Santoso",
            },
            emails=[f"budi.{nik[-6:]}@kemenuji.go.id"],
            public_key=key.public_key(),
            **kw,  # type: ignore[arg-type]
        )
        return self.pki.issuer.issue(self.pki.issuing, req)

    def crl(self, kind: str = "full", partition: int = -1, ca: str | None = None):
        from crl.publish import crl_der

        info = newest_crl(self.pki.store, ca or self.pki.issuing, kind, partition)
        assert info is not None, f"no {kind} CRL published"
        der = crl_der(self.pki.store, info.id)
        assert der is not None
        return x509.load_der_x509_crl(der), der


def crl_pki(
    pki: Pki,
    public_dir: Path,
    partitions: int = 1,
    clock: Callable[[], dt.datetime] | None = None,
    **config: object,
) -> CrlPki:
    pki.issuer.crl_partitions = partitions
    kw = {"clock": clock} if clock else {}
    publisher = CrlPublisher(
        pki.store,
        pki.backend,
        CrlConfig(partitions=partitions, **config),  # type: ignore[arg-type]
        base_url=BASE_URL,
        public_dir=public_dir,
        **kw,  # type: ignore[arg-type]
    )
    return CrlPki(pki, publisher, public_dir)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def serials(crl: x509.CertificateRevocationList) -> dict[int, x509.RevokedCertificate]:
    return {r.serial_number: r for r in crl}


def reason(r: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        return r.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None
