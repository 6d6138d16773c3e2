"""A CSC credential is one certificate of a signer (profile ``natural-person``) or of an
agency (``legal-person-seal``) whose key psre holds in the HSM. Its ID is the certificate's
SHA-256 fingerprint: unique across CAs, and a renewed certificate is a new credential."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from ca_core.ca_standing import chain_problem
from ca_core.clock import Clock, utcnow
from ca_core.store import ReadOnlyStore
from ca_core.store.csc import CscReads
from ca_core.store.models import Certificate, Subscriber
from policies.roles import names_with_role, signing_profile_for
from signing_api.csc.errors import invalid
from signing_api.signers import issuer_chain

#: What each key type can do through signatures/signHash (CSC "key.algo"): signature OIDs.
EC_ALGOS = [
    "1.2.840.10045.2.1",
    "1.2.840.10045.4.3.2",
    "1.2.840.10045.4.3.3",
    "1.2.840.10045.4.3.4",
]
RSA_ALGOS = [
    "1.2.840.113549.1.1.1",
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
    "1.2.840.113549.1.1.10",
]


@dataclass(frozen=True)
class Credential:
    certificate: Certificate
    subscriber: Subscriber

    @property
    def id(self) -> str:
        return self.certificate.fingerprint_sha256

    @property
    def is_seal(self) -> bool:
        return self.subscriber.kind == "agency"

    def cert_status(self, now: dt.datetime) -> str:
        c = self.certificate
        if c.status != "good":
            return "revoked" if c.status == "revoked" else "suspended"
        if c.not_after <= now:
            return "expired"
        if c.not_before > now:
            return "not yet valid"
        return "valid"


def find(store: ReadOnlyStore, credential_id: str | None) -> Credential:
    """The credential ``credential_id`` names, whatever its state (info reports it)."""
    if not credential_id or not isinstance(credential_id, str):
        raise invalid("credentialID")
    profiles = names_with_role("subscriber-signing", "seal")
    found = CscReads(store).credential(credential_id.lower(), profiles)
    if found is None:
        raise invalid("credentialID")
    cert, sub = found
    if signing_profile_for(sub.kind).name != cert.profile:
        raise invalid("credentialID")
    return Credential(cert, sub)


def list_for(store: ReadOnlyStore, sub: Subscriber, now: dt.datetime) -> list[str]:
    """The subscriber's credentials that are not expired (newest first)."""
    return CscReads(store).credential_ids(sub.id, signing_profile_for(sub.kind).name, now)


def key_info(cred: Credential, usable: bool) -> dict[str, Any]:
    pub = asn1_x509.Certificate.load(cred.certificate.der).public_key
    out: dict[str, Any] = {
        "status": "enabled" if usable else "disabled",
        "algo": EC_ALGOS if pub.algorithm == "ec" else RSA_ALGOS,
        "len": pub.bit_size,
    }
    if pub.algorithm == "ec":
        out["curve"] = pub["algorithm"]["parameters"].chosen.dotted
    return out


def usable(store: ReadOnlyStore, cred: Credential, now: dt.datetime) -> bool:
    """Status ISSUE, certificate good and within validity, every CA above it good."""
    return (
        cred.subscriber.status == "ISSUE"
        and cred.cert_status(now) == "valid"
        and chain_problem(store, cred.certificate.issuer_id, now) is None
    )


def cert_info(
    store: ReadOnlyStore, cred: Credential, which: str, with_info: bool, *, clock: Clock = utcnow
) -> dict[str, Any]:
    now = clock()
    c = cred.certificate
    out: dict[str, Any] = {"status": cred.cert_status(now)}
    if which != "none":
        ders = [c.der]
        if which == "chain":
            ders += [ca.public_bytes(_der()) for ca in issuer_chain(store, c.issuer_id)]
        out["certificates"] = [base64.b64encode(d).decode() for d in ders]
    if with_info:
        parsed = x509.load_der_x509_certificate(c.der)
        out.update(
            issuerDN=parsed.issuer.rfc4514_string(),
            serialNumber=c.serial_hex,
            subjectDN=parsed.subject.rfc4514_string(),
            validFrom=_generalized(parsed.not_valid_before_utc),
            validTo=_generalized(parsed.not_valid_after_utc),
        )
    return out


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def _generalized(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")
