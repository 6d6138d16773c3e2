"""Build one CRL and sign it in the HSM through the lint-before-sign path.

As for certificates (ca_core.issuer): the CRL is built with cryptography's builder, signed with
a throwaway software key of the CA's algorithm, linted with pkilint, and then the *identical*
TBSCertList bytes are signed in the HSM and assembled with asn1crypto. The result is checked
against the CA's public key before anyone publishes it.

Scale. The revoked list is handed to ``CertificateRevocationListBuilder(revoked_certificates=…)``
in one go: ``add_revoked_certificate`` copies the list on every call (quadratic). pkilint takes
0.3-2 ms per entry, so a CRL with more than ``lint_max_entries`` entries is linted as a
copy with the same issuer, dates and extensions and one entry of each *shape* (reason code,
invalidity date or not): every entry of a shape is made by the same code path (:func:`entry`)
from a serial, a time and those two values, so the copy exercises every encoding the real CRL
contains. Entry serials come straight from the certificates' serials (checklist: byte-identical).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import crl as asn1_crl
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ca_core import lint
from ca_core.issuer import hash_for, hsm_signature, throwaway_key
from ca_core.revocation import REASON_FLAGS
from ca_core.store.models import CertificateAuthority
from crl.errors import CrlError
from hsm.backend import KeyBackend, KeySpec


@dataclass(frozen=True)
class CrlHeader:
    """Everything of a CRL except its entries."""

    ca_name: str
    kind: str  # full | partition | delta
    number: int
    this_update: dt.datetime
    next_update: dt.datetime
    partition: int = -1
    #: A delta's base CRL number (deltaCRLIndicator).
    base_number: int | None = None
    #: A partition's URL (issuingDistributionPoint), byte-identical to its certificates' DP.
    idp_url: str | None = None
    #: The delta CRL's URL (freshestCRL) in a complete CRL when deltas are published.
    freshest_url: str | None = None


@dataclass(frozen=True)
class SignedCrl:
    header: CrlHeader
    der: bytes
    entries: int
    sha256: str
    findings: tuple[lint.Finding, ...]


#: The reasonCode extension of each reason, made once (a million entries share a few values).
_REASON_EXTENSIONS: dict[str, x509.Extension[x509.ExtensionType]] = {
    name: x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(flag))
    for name, flag in REASON_FLAGS.items()
}


def naive_utc(t: dt.datetime) -> dt.datetime:
    """cryptography's builders take naive UTC; converting here once is cheaper than per call."""
    return t if t.tzinfo is None else t.astimezone(dt.UTC).replace(tzinfo=None)


def entry(
    serial: int,
    revoked_at: dt.datetime,
    reason: str | None,
    invalidity_date: dt.datetime | None,
) -> x509.RevokedCertificate:
    """One CRL entry (times aware, or naive UTC). reasonCode is non-critical and omitted for
    ``unspecified`` (RFC 5280 §5.3.1: "unspecified" SHOULD be expressed by leaving it out);
    invalidityDate is non-critical (§5.3.2)."""
    extensions: list[x509.Extension[x509.ExtensionType]] = []
    if reason and reason != "unspecified":
        extensions.append(_REASON_EXTENSIONS[reason])
    if invalidity_date is not None:
        inv = x509.InvalidityDate(naive_utc(invalidity_date))
        extensions.append(x509.Extension(x509.InvalidityDate.oid, False, inv))
    # The whole entry in the builder's constructor: each chained setter copies the builder,
    # which costs a third of the build time for a million entries.
    return x509.RevokedCertificateBuilder(serial, naive_utc(revoked_at), extensions).build()


def builder(
    ca_cert: x509.Certificate, header: CrlHeader, entries: Sequence[x509.RevokedCertificate]
) -> x509.CertificateRevocationListBuilder:
    """The CRL for ``header`` with ``entries`` (passed whole: linear, not quadratic)."""
    b = x509.CertificateRevocationListBuilder(
        # The CA's subject as encoded in its certificate: the CRL issuer must match it exactly.
        issuer_name=ca_cert.subject,
        last_update=header.this_update,
        next_update=header.next_update,
        revoked_certificates=list(entries),
    )
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    # RFC 5280 §5.2.1 / §5.2.3: AKI and CRL number MUST be present, non-critical.
    b = b.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
    )
    b = b.add_extension(x509.CRLNumber(header.number), critical=False)
    if header.kind == "delta":
        if header.base_number is None:
            raise CrlError("a delta CRL needs its base CRL number")
        # RFC 5280 §5.2.4: deltaCRLIndicator MUST be critical.
        b = b.add_extension(x509.DeltaCRLIndicator(header.base_number), critical=True)
    if header.kind == "partition":
        if header.idp_url is None:
            raise CrlError("a partition CRL needs its distribution point URL")
        # RFC 5280 §5.2.5: issuingDistributionPoint MUST be critical.
        idp = x509.IssuingDistributionPoint(
            full_name=[x509.UniformResourceIdentifier(header.idp_url)],
            relative_name=None,
            only_contains_user_certs=False,
            only_contains_ca_certs=False,
            only_some_reasons=None,
            indirect_crl=False,
            only_contains_attribute_certs=False,
        )
        b = b.add_extension(idp, critical=True)
    if header.kind == "full" and header.freshest_url:
        # RFC 5280 §5.2.6: freshestCRL in a complete CRL, non-critical.
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(header.freshest_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        b = b.add_extension(x509.FreshestCRL([point]), critical=False)
    return b


def sign_crl(
    backend: KeyBackend,
    ca: CertificateAuthority,
    header: CrlHeader,
    entries: Sequence[x509.RevokedCertificate],
    *,
    lint_sample: Sequence[x509.RevokedCertificate] | None = None,
    lint_max_entries: int = 100,
) -> SignedCrl:
    """Lint, HSM-sign and verify the CRL; raises LintError/CrlError/HsmError, signs nothing bad.

    ``lint_sample`` (one entry per shape) is linted instead of the whole list when there are
    more than ``lint_max_entries`` entries.
    """
    if ca.certificate_der is None:
        raise CrlError(f"CA {ca.name} has no certificate yet")
    ca_cert = x509.load_der_x509_certificate(ca.certificate_der)
    spec = KeySpec.parse(ca.key_spec)
    key, digest = throwaway_key(spec), hash_for(spec)
    copy = builder(ca_cert, header, entries).sign(key, digest)
    copy_der = copy.public_bytes(serialization.Encoding.DER)
    if len(entries) > lint_max_entries and lint_sample is not None:
        linted = builder(ca_cert, header, lint_sample).sign(key, digest)
        linted_der = linted.public_bytes(serialization.Encoding.DER)
    else:
        linted_der = copy_der
    findings = lint.lint_crl(linted_der)
    bad = lint.blocking(findings)
    if bad:
        raise lint.LintError(bad)

    # The TBSCertList exactly as encoded in the linted copy (asn1crypto hands back the original
    # bytes; cryptography's tbs_certlist_bytes would re-encode a million entries).
    tbs = asn1_crl.CertificateList.load(copy_der)["tbs_cert_list"]
    tbs_der = tbs.dump()
    alg = tbs["signature"]
    signature = hsm_signature(backend, ca.key_label, alg, tbs_der)
    der = asn1_crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": alg, "signature": signature}
    ).dump()
    x509.load_der_x509_crl(der)  # cryptography reads what we publish
    # The HSM's signature over the linted TBS, checked with the CA certificate's key over those
    # bytes (CertificateRevocationList.is_signature_valid would re-encode every entry first).
    public = ca_cert.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, tbs_der, ec.ECDSA(digest))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, tbs_der, padding.PKCS1v15(), digest)
        else:
            raise CrlError(f"unsupported CA key type for {ca.name}")
    except InvalidSignature:
        raise CrlError(f"internal: the CRL signature by {ca.name} does not verify") from None
    return SignedCrl(header, der, len(entries), hashlib.sha256(der).hexdigest(), tuple(findings))
