"""The X.509 extensions a profile names, as cryptography objects with their critical flags."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import AuthorityInformationAccessOID
from pyasn1.codec.der import encoder
from pyasn1.type import char, constraint, univ
from pyasn1_alt_modules import rfc3739

from policies.errors import ExtensionError
from policies.schema import KEY_TYPES, KEY_USAGES, QC_TYPES, Profile
from policies.subject import check_emails

#: id-pe-qcStatements (RFC 3739 §3.2.6).
QC_STATEMENTS_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")
#: id-etsi-qcs-QcType and id-etsi-qcs-QcCClegislation (ETSI EN 319 412-5 §4.2.3, §4.2.4).
QC_TYPE_STATEMENT = "0.4.0.1862.1.6"
QC_CC_LEGISLATION_STATEMENT = "0.4.0.1862.1.7"

_CURVES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}
# CA names become path segments of CRL and caIssuers URLs: keep them to unreserved characters
# (RFC 3986 §2.3) so that the URL in the certificate is byte-identical to the one served.
_CA_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# pyasn1 ships no type information, so its base classes are Any to mypy.
class _QcType(univ.SequenceOf):  # type: ignore[misc]
    """QcType ::= SEQUENCE OF OBJECT IDENTIFIER (ETSI EN 319 412-5 Annex B)."""

    componentType = univ.ObjectIdentifier()


class _QcCClegislation(univ.SequenceOf):  # type: ignore[misc]
    """QcCClegislation ::= SEQUENCE OF CountryName (ETSI EN 319 412-5 Annex B)."""

    componentType = char.PrintableString().subtype(subtypeSpec=constraint.ValueSizeConstraint(2, 2))


def public_key_type(public_key: CertificatePublicKeyTypes) -> str:
    """The profile key type name of ``public_key`` (``rsa-2048`` … ``ec-p384``).

    :raises ExtensionError: for any other key (DSA, Ed25519, P-521, odd RSA sizes…).
    """
    name: str | None = None
    if isinstance(public_key, rsa.RSAPublicKey):
        name = f"rsa-{public_key.key_size}"
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        name = _CURVES.get(public_key.curve.name)
    if name is None or name not in KEY_TYPES:
        raise ExtensionError("public_key", "unsupported key type")
    return name


@functools.lru_cache(maxsize=64)
def qc_statements_der(profile: Profile) -> bytes:
    """DER of the QCStatements extension value for ``profile`` (a function of the profile
    alone, and pyasn1 encoding is slow: cached per profile).

    QcType and QcCClegislation only: never QcCompliance (0.4.0.1862.1.1), which claims a
    qualified certificate under EU law (ETSI EN 319 412-5 §4.2.1) — a PSrE's certificates are
    qualified, if at all, under Indonesian law, which QcCClegislation "ID" states (§4.2.4).
    """
    statements = rfc3739.QCStatements()
    if profile.qc_types:
        qc_type = _QcType()
        for t in profile.qc_types:
            qc_type.append(univ.ObjectIdentifier(QC_TYPES[t]))
        statements.append(_statement(QC_TYPE_STATEMENT, qc_type))
    if profile.qc_cc_legislation:
        legislation = _QcCClegislation()
        for country in profile.qc_cc_legislation:
            legislation.append(country)
        statements.append(_statement(QC_CC_LEGISLATION_STATEMENT, legislation))
    der: bytes = encoder.encode(statements)
    return der


def _statement(oid: str, info: univ.SequenceOf) -> rfc3739.QCStatement:
    statement = rfc3739.QCStatement()
    statement["statementId"] = univ.ObjectIdentifier(oid)
    statement["statementInfo"] = encoder.encode(info)
    return statement


def _ca_name(field: str, value: str) -> str:
    if not _CA_NAME_RE.fullmatch(value):
        raise ExtensionError(field, "must be letters, digits, '.', '_' or '-'")
    return value


def build_extensions(
    profile: Profile,
    *,
    public_key: CertificatePublicKeyTypes,
    issuer_public_key: CertificateIssuerPublicKeyTypes | None,
    base_url: str,
    ca_name: str,
    issuer_name: str,
    emails: Sequence[str],
    crl_partition: int | None = None,
) -> list[tuple[x509.ExtensionType, bool]]:
    """Every extension ``profile`` names, each with its critical flag, in a fixed order.

    :param public_key: the subject's public key; its type must be one the profile allows.
    :param issuer_public_key: the issuing CA's key (for AKI); ``None`` only for a root, which
        is its own issuer.
    :param base_url: the service's public base URL (no trailing ``/``): CRL, AIA and CPS URLs
        are made from it.
    :param ca_name: the CA record the certificate is issued for (CA profiles) or by. It does
        not appear in any URL; for a root, whose issuer is itself, it must equal
        ``issuer_name``.
    :param issuer_name: the issuing CA's name (CRL and caIssuers URLs).
    :param emails: SAN rfc822Name addresses, checked with :func:`check_emails`.
    :param crl_partition: the partition CRL that will list this certificate (crl.urls), named
        in its CRL DP instead of the issuer's complete CRL; None when CRLs are not partitioned.
    :raises ExtensionError: key type not allowed, missing issuer key, bad CA names.
    :raises SubjectError: on a bad or missing/forbidden email address.
    """
    _check_key_and_names(profile, public_key, ca_name=ca_name, issuer_name=issuer_name)
    issuer_public_key = _issuer_key(profile, public_key, issuer_public_key)
    mailboxes = check_emails(profile, emails)

    out: list[tuple[x509.ExtensionType, bool]] = []
    if profile.ca:
        # RFC 5280 §4.2.1.9: basicConstraints MUST be critical in CA certificates.
        out.append((x509.BasicConstraints(ca=True, path_length=profile.path_length), True))
    # RFC 5280 §4.2.1.3: keyUsage SHOULD be critical (and is, in every profile here).
    out.append((_key_usage(profile, public_key), True))
    if profile.eku:
        # RFC 5280 §4.2.1.12: critical only where the profile says so (RFC 3161 §2.3 for TSA).
        eku = x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in profile.eku])
        out.append((eku, profile.eku_critical))
    if profile.nc_permitted_countries:
        out.append((_name_constraints(profile), profile.nc_critical))
    if profile.ski:
        # RFC 5280 §4.2.1.2: non-critical; method (1), SHA-1 of the subjectPublicKey.
        out.append((x509.SubjectKeyIdentifier.from_public_key(public_key), False))
    if profile.aki:
        # RFC 5280 §4.2.1.1: non-critical; keyIdentifier equal to the issuer's SKI.
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key)
        out.append((aki, False))
    if profile.crl_dp:
        # RFC 5280 §4.2.1.13 (SHOULD be non-critical); the issuer's full CRL over HTTP.
        out.append((_crl_distribution_points(base_url, issuer_name, crl_partition), False))
    aia = _authority_information_access(profile, base_url, issuer_name)
    if aia is not None:
        # RFC 5280 §4.2.2.1: AIA MUST be non-critical.
        out.append((aia, False))
    if profile.policy_oids:
        # RFC 5280 §4.2.1.4 allows either; BR §7.1.2.x and S/MIME BR §7.1.2.3(a) say non-critical.
        out.append((_policies(profile, base_url), False))
    if mailboxes:
        # The subject is never empty (policies.schema requires an attribute), so the SAN is
        # non-critical (RFC 5280 §4.2.1.6).
        san = x509.SubjectAlternativeName([x509.RFC822Name(m) for m in mailboxes])
        out.append((san, False))
    if profile.qc_types or profile.qc_cc_legislation:
        # ETSI EN 319 412-5 §4.1: QCStatements is non-critical.
        qcs = x509.UnrecognizedExtension(QC_STATEMENTS_OID, qc_statements_der(profile))
        out.append((qcs, False))
    if profile.ocsp_nocheck:
        # RFC 6960 §4.2.2.2.1: the responder's own certificate is not checked; SHOULD be
        # non-critical.
        out.append((x509.OCSPNoCheck(), False))
    return out


def _check_key_and_names(
    profile: Profile, public_key: CertificatePublicKeyTypes, *, ca_name: str, issuer_name: str
) -> None:
    key_type = public_key_type(public_key)
    if key_type not in profile.key_types:
        raise ExtensionError("public_key", f"{key_type} is not allowed by profile {profile.name}")
    _ca_name("issuer_name", issuer_name)
    _ca_name("ca_name", ca_name)
    if profile.kind == "root" and ca_name != issuer_name:
        # The root's CRL and certificate URLs are its own: a mismatch means a mixed-up record.
        raise ExtensionError("issuer_name", "a root is its own issuer: must equal ca_name")


def _issuer_key(
    profile: Profile,
    public_key: CertificatePublicKeyTypes,
    issuer_public_key: CertificateIssuerPublicKeyTypes | None,
) -> CertificateIssuerPublicKeyTypes:
    """The issuer's key for the AKI: the given one, or for a root (self-signed) the
    subject's own."""
    if issuer_public_key is not None:
        return issuer_public_key
    if profile.kind != "root" and profile.aki:
        raise ExtensionError("issuer_public_key", "needed for the authority key identifier")
    # Self-signed: the issuer's key is the subject's (RSA or EC, checked by key_type above).
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ExtensionError("public_key", "a self-signed key must be RSA or EC")
    return public_key


def _key_usage(profile: Profile, public_key: CertificatePublicKeyTypes) -> x509.KeyUsage:
    usages = set(profile.key_usage)
    if isinstance(public_key, rsa.RSAPublicKey):
        # S/MIME BR §7.1.2.3(e): keyEncipherment only where the key can encrypt (RSA).
        usages.update(profile.key_usage_rsa_extra)
    flags = {name: name in usages for name in KEY_USAGES}
    return x509.KeyUsage(
        **flags,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _name_constraints(profile: Profile) -> x509.NameConstraints:
    """RFC 5280 §4.2.1.10: every subject DN beneath must lie in one of the C=<code> subtrees.
    (Email addresses in subjectAltName are not directory names and are left unconstrained.)"""
    subtrees: list[x509.GeneralName] = [
        x509.DirectoryName(x509.Name([x509.NameAttribute(x509.NameOID.COUNTRY_NAME, c)]))
        for c in profile.nc_permitted_countries
    ]
    return x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None)


def _crl_distribution_points(
    base_url: str, issuer_name: str, crl_partition: int | None
) -> x509.CRLDistributionPoints:
    if crl_partition is None:
        url = f"{base_url}/crl/{issuer_name}.crl"
    else:
        # The partition CRL's issuingDistributionPoint carries this very URL.
        url = f"{base_url}/crl/{issuer_name}-{crl_partition}.crl"
    point = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
    return x509.CRLDistributionPoints([point])


def _authority_information_access(
    profile: Profile, base_url: str, issuer_name: str
) -> x509.AuthorityInformationAccess | None:
    access: list[x509.AccessDescription] = []
    if profile.aia_ocsp:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(f"{base_url}/ocsp"),
            )
        )
    if profile.aia_ca_issuers:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(f"{base_url}/ca/{issuer_name}.crt"),
            )
        )
    return x509.AuthorityInformationAccess(access) if access else None


def _policies(profile: Profile, base_url: str) -> x509.CertificatePolicies:
    qualifiers: list[str | x509.UserNotice] | None = (
        [f"{base_url}/cps"] if profile.cps_uri else None
    )
    return x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier(o), qualifiers) for o in profile.policy_oids]
    )
