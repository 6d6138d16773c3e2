"""Certificate search for the console, and a readable decoding of one certificate."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ca_core.store import ReadOnlyStore
from ca_core.store.certificate_search import CertificateSearch, CertRow
from ca_core.store.models import Certificate, Subscriber

__all__ = ["CertRow", "Decoded", "decode", "get", "search"]

#: Short names for the subject attributes our profiles use that RFC 4514 leaves as OIDs.
_ATTR_NAMES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.EMAIL_ADDRESS: "emailAddress",
}
#: OIDs cryptography does not name (extensions and document-signing EKUs we issue).
_OID_NAMES = {
    "1.3.6.1.5.5.7.1.3": "qcStatements",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.4.1.311.10.3.12": "msDocumentSigning",
    "1.2.840.113583.1.1.5": "adobeAuthenticDocumentsTrust",
}


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = getattr(oid, "_name", "Unknown OID")
    if name != "Unknown OID":
        return str(name)
    return _OID_NAMES.get(oid.dotted_string, oid.dotted_string)


def search(store: ReadOnlyStore, query: str, limit: int = 100) -> list[CertRow]:
    """Certificates whose serial, subscriber NIK, name or e-mail match ``query``
    (ca_core.store.certificate_search.CertificateSearch.search)."""
    return CertificateSearch(store).search(query, limit)


def get(store: ReadOnlyStore, cert_id: int) -> tuple[Certificate, str, Subscriber | None] | None:
    found = CertificateSearch(store).page(cert_id)
    return None if found is None else (found.certificate, found.issuer, found.subscriber)


@dataclass(frozen=True)
class Decoded:
    version: str
    common_name: str
    serial: str
    subject: str
    issuer: str
    not_before: str
    not_after: str
    public_key: str
    signature_algorithm: str
    extensions: list[tuple[str, bool, str]]


def decode(der: bytes) -> Decoded:
    """The fields an operator reads, decoded by ``cryptography`` (no DER code of ours)."""
    cert = x509.load_der_x509_certificate(der)
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key_text = f"EC {key.curve.name}"
    elif isinstance(key, rsa.RSAPublicKey):
        key_text = f"RSA {key.key_size}"
    else:
        key_text = type(key).__name__
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    exts = [
        (
            _oid_name(ext.oid),
            ext.critical,
            _ext_text(ext.value),
        )
        for ext in cert.extensions
    ]
    algo = cert.signature_algorithm_oid
    return Decoded(
        version=cert.version.name,
        common_name=str(cns[0].value) if cns else cert.subject.rfc4514_string(_ATTR_NAMES),
        serial=format(cert.serial_number, "x"),
        subject=cert.subject.rfc4514_string(_ATTR_NAMES),
        issuer=cert.issuer.rfc4514_string(_ATTR_NAMES),
        not_before=cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%SZ"),
        not_after=cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%SZ"),
        public_key=key_text,
        signature_algorithm=_oid_name(algo),
        extensions=exts,
    )


def _ext_text(value: x509.ExtensionType) -> str:
    if isinstance(value, x509.SubjectAlternativeName | x509.IssuerAlternativeName):
        return ", ".join(str(n.value) for n in value)
    if isinstance(value, x509.KeyUsage):
        names = [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
        ]
        return ", ".join(n for n in names if getattr(value, n))
    if isinstance(value, x509.ExtendedKeyUsage):
        return ", ".join(_oid_name(o) for o in value)
    if isinstance(value, x509.BasicConstraints):
        return f"CA={value.ca}, pathlen={value.path_length}"
    if isinstance(value, x509.CRLDistributionPoints):
        return ", ".join(str(n.value) for dp in value for n in (dp.full_name or []))
    if isinstance(value, x509.AuthorityInformationAccess):
        return ", ".join(f"{_oid_name(d.access_method)}: {d.access_location.value}" for d in value)
    if isinstance(value, x509.CertificatePolicies):
        return ", ".join(p.policy_identifier.dotted_string for p in value)
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest.hex(":")
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return (value.key_identifier or b"").hex(":")
    if isinstance(value, x509.UnrecognizedExtension):
        return f"DER {value.value.hex()}"
    return repr(value)
