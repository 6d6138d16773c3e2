"""Who signs a CA's OCSP responses, and building one signed response.

Every response is built by cryptography's ``OCSPResponseBuilder`` and signed through an
``HsmPrivateKey`` (the key never leaves the HSM; no DER of ours). The signer of CA X is its
delegated responder (RFC 6960 §4.2.2.2: the newest valid ``Certificate`` of profile
"ocsp-signer" issued by X, key in the HSM under ``key_label``; its certificate is included) or,
by configuration or when X has none, X's own key — which is how the root answers for the issuing
CAs it certified. The ResponderID is always byKey (RFC 5019 §2.2.3, smaller and stable across
re-issued responder certificates).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ObjectIdentifier

from ca_core.revocation import REASON_FLAGS
from ca_core.store import CertStatus as CertStatus
from ca_core.store import ReadOnlyStore
from ca_core.store.db import utcnow
from ca_core.store.models import Certificate, CertificateAuthority
from ca_core.store.ocsp_responses import newest_delegated_responder
from hsm.backend import KeyBackend
from hsm.keys import HsmPrivateKey, default_hash, private_key
from ocsp.errors import NoResponderError
from policies.roles import names_with_role

#: RFC 6960 §4.4.8: the extended revoked definition, signalled in responseExtensions with NULL.
EXTENDED_REVOKE_OID = ObjectIdentifier("1.3.6.1.5.5.7.48.1.9")
_DER_NULL = b"\x05\x00"
#: RFC 6960 §2.2: revocationTime of a serial that was never issued.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: thisUpdate is backdated this much to absorb relying parties' clock skew.
BACKDATE = dt.timedelta(minutes=1)

#: CertID hash algorithms we pre-sign for (most clients send SHA-1; RFC 6960 allows SHA-256).
PRESIGN_HASHES: dict[str, hashes.HashAlgorithm] = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}  # noqa: S303
#: CertID hash algorithms we answer at all (the others live-signed).
CERTID_HASHES: dict[str, hashes.HashAlgorithm] = {
    **PRESIGN_HASHES,
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


@dataclass(frozen=True)
class IssuerHashes:
    """issuerNameHash / issuerKeyHash of one CA for every CertID hash we know (RFC 6960 §4.1.1)."""

    name: dict[str, bytes]
    key: dict[str, bytes]

    @classmethod
    def of(cls, ca_der: bytes) -> IssuerHashes:
        cert = asn1_x509.Certificate.load(ca_der)
        name_der = cert.subject.dump()
        key_bits = bytes(cert.public_key["public_key"].contents[1:])  # BIT STRING, unused-bits 0
        names, keys = {}, {}
        for alg_name, alg in CERTID_HASHES.items():
            names[alg_name] = _digest(alg, name_der)
            keys[alg_name] = _digest(alg, key_bits)
        return cls(names, keys)


def _digest(alg: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(alg)
    h.update(data)
    return h.finalize()


@dataclass
class Responder:
    """The key and certificate that sign one CA's responses."""

    ca_id: int
    ca_name: str
    ca_cert: x509.Certificate
    hashes: IssuerHashes
    key: HsmPrivateKey
    #: The responder certificate: the delegated one, or the CA's own.
    cert: x509.Certificate
    delegated: bool
    label: str
    #: Until when this choice stays valid (the delegated certificate's notAfter).
    valid_until: dt.datetime
    extra: dict[str, object] = field(default_factory=dict)


def find_delegated(store: ReadOnlyStore, ca_id: int, now: dt.datetime) -> Certificate | None:
    """The newest valid delegated-responder certificate (a profile with role ocsp-responder)
    issued by ``ca_id`` with an HSM key."""
    return newest_delegated_responder(store, ca_id, names_with_role("ocsp-responder"), now)


def responder_for(
    store: ReadOnlyStore,
    backend: KeyBackend,
    ca: CertificateAuthority,
    mode: str,
    now: dt.datetime | None = None,
) -> Responder:
    """Choose the signer of ``ca``'s responses per ``mode`` (config ``ocsp.signer``)."""
    now = now or utcnow()
    if ca.certificate_der is None:
        raise NoResponderError(f"CA {ca.name} has no certificate yet")
    ca_cert = x509.load_der_x509_certificate(ca.certificate_der)
    delegated = None if mode == "ca" else find_delegated(store, ca.id, now)
    if delegated is not None:
        assert delegated.key_label is not None
        label = delegated.key_label
        cert = x509.load_der_x509_certificate(delegated.der)
        valid_until = min(delegated.not_after, ca_cert.not_valid_after_utc)
    elif mode == "delegated":
        raise NoResponderError(f"CA {ca.name} has no valid delegated OCSP responder certificate")
    else:
        label, cert, valid_until = ca.key_label, ca_cert, ca_cert.not_valid_after_utc
    return Responder(
        ca.id,
        ca.name,
        ca_cert,
        IssuerHashes.of(ca.certificate_der),
        private_key(backend, label),
        cert,
        delegated is not None,
        label,
        valid_until,
    )


def cert_status(store: ReadOnlyStore, issuer_id: int, serial: int | str) -> CertStatus:
    """The status of ``serial`` under ``issuer_id``, for OCSP (decided by the store, in one
    place: :meth:`ca_core.store.ReadOnlyStore.certificate_status`)."""
    return store.certificate_status(issuer_id, serial)


def build_response(
    responder: Responder,
    *,
    serial: int,
    hash_alg: str,
    status: CertStatus,
    validity: dt.timedelta,
    now: dt.datetime | None = None,
    nonce: bytes | None = None,
) -> tuple[bytes, dt.datetime, dt.datetime]:
    """Sign one response; returns (DER, thisUpdate, nextUpdate).

    ``never_issued`` becomes RFC 6960 §2.2's extended revoked answer: revoked, certificateHold,
    revocationTime 1970-01-01, with the extended-revoke extension in responseExtensions.
    """
    now = (now or utcnow()).replace(microsecond=0)
    this_update = now - BACKDATE
    next_update = min(this_update + validity, responder.valid_until)
    alg = CERTID_HASHES[hash_alg]
    revocation_time: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None
    if status.status == "good":
        ocsp_status = ocsp.OCSPCertStatus.GOOD
    elif status.status == "unknown":
        ocsp_status = ocsp.OCSPCertStatus.UNKNOWN
    else:
        ocsp_status = ocsp.OCSPCertStatus.REVOKED
        if status.status == "never_issued":
            revocation_time, reason = EPOCH, x509.ReasonFlags.certificate_hold
        else:
            assert status.revoked_at is not None
            revocation_time = status.revoked_at
            name = status.reason or ("certificateHold" if status.status == "hold" else None)
            # RFC 5280 §5.3.1: "unspecified" is expressed by leaving the reason out.
            if name and name != "unspecified":
                reason = REASON_FLAGS[name]
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            responder.hashes.name[hash_alg],
            responder.hashes.key[hash_alg],
            serial,
            alg,
            ocsp_status,
            this_update,
            next_update,
            revocation_time,
            reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert)
    )
    if responder.delegated:
        builder = builder.certificates([responder.cert])
    if status.status == "never_issued":
        builder = builder.add_extension(
            x509.UnrecognizedExtension(EXTENDED_REVOKE_OID, _DER_NULL), critical=False
        )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    resp = builder.sign(responder.key, default_hash(responder.key))
    return resp.public_bytes(serialization.Encoding.DER), this_update, next_update


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    """An unsigned error response (malformedRequest, tryLater, unauthorized, internalError)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )
