"""The issuance pipeline: request → validate → reserve serial → build TBS → lint → HSM sign →
verify → store + audit.

Two steps, after Boulder's ``issuance`` package: ``prepare`` builds the to-be-signed certificate
from the profile, signs a copy with a throwaway key of the issuer's algorithm and lints it with
pkilint (BR 4.3.1.2 "lint before sign"); ``issue`` reserves the serial in the database (with the
TBS bytes), signs exactly those TBS bytes in the HSM, assembles the certificate with asn1crypto,
checks the signature against the issuer and only then stores it.

A crash between the HSM signature and the database write leaves a reservation holding the TBS.
The serial is then treated as issued (never ``good``/``unknown``); ``recover`` re-signs the
*identical* TBS — the same certificate, not a second one — so a retry with the same idempotency
key, or a revocation of that serial, completes it without ever putting a serial on new content.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from asn1crypto import algos as asn1_algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ca_core import audit_objects, lint
from ca_core.ca_standing import require_good_chain
from ca_core.clock import Clock, utcnow
from ca_core.errors import CaError, NotFoundError
from ca_core.events import StatusEvent
from ca_core.keycheck import check_public_key, spki_sha256
from ca_core.names import partition_of
from ca_core.store import Store, serial_hex
from ca_core.store.issuance import IssuanceRecords, KnownKey
from ca_core.store.models import CertificateAuthority
from hsm.backend import KeyBackend, KeySpec, SignScheme
from policies.errors import ExtensionError, SubjectError
from policies.extensions import build_extensions
from policies.schema import Profile
from policies.subject import build_subject, check_emails

#: Seconds a certificate is backdated to absorb relying parties' clock skew (BR 7.1.2.7 allows
#: backdating up to 48 h; we use a minute).
BACKDATE = dt.timedelta(seconds=60)

#: Seconds a certified CA's row is reused by the issuer without reading it again.
CA_CACHE_SECONDS = 30.0


class IssuanceError(CaError):
    """Issuance refused; ``field`` names what was wrong (e.g. ``subject.serialNumber``)."""

    code = "issuance_refused"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def new_serial() -> int:
    """128 bits from the OS CSPRNG, forced positive and non-zero (BR 7.1; checklist)."""
    while True:
        n = secrets.randbits(128)
        # Keep ≥ 64 bits of entropy *after* the sign fix: clear the top bit instead of
        # rejecting, which keeps 127 random bits and a 16-byte DER INTEGER.
        n &= (1 << 127) - 1
        if n >> 64:  # never a short serial
            return n


@dataclass(frozen=True)
class IssueRequest:
    profile: str
    subject: Mapping[str, str]
    public_key: CertificatePublicKeyTypes
    emails: Sequence[str] = ()
    #: Inclusive validity in days; default the profile's maximum.
    validity_days: int | None = None
    not_before: dt.datetime | None = None
    subscriber_id: int | None = None
    #: HSM label when the subscriber's key is held server-side.
    key_label: str | None = None
    idempotency_key: str | None = None
    actor: str = "system"
    #: A renewal may certify a key that already has a live certificate of the same profile.
    renewal: bool = False


@dataclass(frozen=True)
class Prepared:
    """A linted TBS certificate, ready to be signed by the issuer."""

    issuer_id: int
    issuer_name: str
    serial: int
    profile: str
    tbs_der: bytes
    findings: tuple[lint.Finding, ...]
    request: IssueRequest = field(repr=False)


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    serial_hex: str
    issuer_name: str
    profile: str
    fingerprint_sha256: str
    recovered: bool = False

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


_throwaway_lock = threading.Lock()
_throwaway: dict[str, object] = {}


def throwaway_key(spec: KeySpec) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A software key of the issuer's algorithm, only for signing the copy that gets linted."""
    with _throwaway_lock:
        key = _throwaway.get(spec.value)
        if key is None:
            if spec.is_rsa:
                key = rsa.generate_private_key(65537, spec.rsa_bits)
            else:
                curve = ec.SECP256R1() if spec is KeySpec.EC_P256 else ec.SECP384R1()
                key = ec.generate_private_key(curve)
            _throwaway[spec.value] = key
        return key  # type: ignore[return-value]


def hash_for(spec: KeySpec) -> hashes.SHA256 | hashes.SHA384:
    # Checklist: P-256 signs with SHA-256, P-384 with SHA-384; RSA with SHA-256.
    return hashes.SHA384() if spec is KeySpec.EC_P384 else hashes.SHA256()


def hsm_signature(
    backend: KeyBackend, key_label: str, algorithm: asn1_algos.SignedDigestAlgorithm, tbs: bytes
) -> bytes:
    """Sign ``tbs`` (a linted TBS certificate or CRL) in the HSM with the algorithm it names."""
    scheme = {
        "ecdsa": SignScheme.ECDSA,
        "rsassa_pkcs1v15": SignScheme.PKCS1V15,
        "rsassa_pss": SignScheme.PSS,
    }[algorithm.signature_algo]
    return backend.sign(key_label, tbs, algorithm.hash_algo, scheme)


def lint_waivers_for(base_url: str) -> frozenset[str]:
    """Lint findings psre lets pass, and only for a development base URL.

    ETSI EN 319 412 and the CA/B Forum S/MIME requirements forbid internal names in a
    certificate's URLs; the dev PKI that ``make run`` serves on 127.0.0.1 can only point at
    itself. So on a loopback base URL each lint set's internal-name finding passes (the S/MIME
    set's too, or no ``smime-mailbox`` certificate could be issued locally), and nothing else
    does. A public base URL waives nothing.
    """
    host = urlsplit(base_url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    return LOCAL_URL_WAIVERS if loopback else frozenset()


#: The internal-name findings of every lint set psre runs (pkilint's ETSI and CA/B S/MIME sets).
LOCAL_URL_WAIVERS = frozenset({"etsi.internal_domain_name", "cabf.internal_domain_name"})


def _fault(point: str) -> None:
    """Fault injection for the crash tests: ``PSRE_FAULT=<point>`` kills the process there."""
    if os.environ.get("PSRE_FAULT") == point:
        os._exit(86)


@dataclass(frozen=True)
class _IssuerView:
    """What building a TBS needs of its issuer: its name, certificate and public key (None
    for a self-signed root being created: the subject and key are the certificate's own)."""

    ca_name: str
    name: x509.Name
    cert: x509.Certificate | None
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None

    @classmethod
    def of(cls, ca: CertificateAuthority, subject: x509.Name, self_signed: bool) -> _IssuerView:
        if self_signed:
            return cls(ca.name, subject, None, None)
        if ca.certificate_der is None:
            raise IssuanceError("issuer", f"CA {ca.name} has no certificate yet")
        cert = _parsed(ca.certificate_der)
        key = cert.public_key()
        # CA keys are RSA or EC (KeySpec); anything else is a corrupted CA record.
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise IssuanceError("issuer", f"CA {ca.name} has an unsupported key type")
        return cls(ca.name, cert.subject, cert, key)


class Issuer:
    """Issues certificates for the CAs in the store, signing with their keys in the HSM."""

    def __init__(
        self,
        store: Store,
        backend: KeyBackend,
        profiles: Mapping[str, Profile],
        *,
        base_url: str,
        clock: Clock = utcnow,
        crl_partitions: int = 1,
    ) -> None:
        self.store = store
        self._db = IssuanceRecords(store)
        #: config crl.partitions: end-entity certificates name their partition CRL in the DP.
        self.crl_partitions = crl_partitions
        self.backend = backend
        self.profiles = profiles
        self.base_url = base_url
        self.clock = clock
        self.lint_waivers = lint_waivers_for(base_url)
        self._cas: dict[str, tuple[float, CertificateAuthority]] = {}

    # -- prepare ----------------------------------------------------------------------------------
    def profile(self, name: str) -> Profile:
        p = self.profiles.get(name)
        if p is None:
            raise IssuanceError("profile", f"unknown profile {name!r}")
        return p

    def prepare(
        self, ca: CertificateAuthority, req: IssueRequest, *, self_signed: bool = False
    ) -> Prepared:
        """Validate the request against the profile, build the TBS and lint it.

        What needs the database — the compromised-key blocklist, keys certified before — is
        checked by ``issue`` in the transaction that reserves the serial, so that two requests
        for one key cannot both pass it.
        """
        profile, subject, emails = self._checked_request(req, self_signed)
        issuer = _IssuerView.of(ca, subject, self_signed)
        not_before, not_after = self._validity(profile, req, issuer)
        serial = new_serial()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.name)
            .public_key(req.public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        builder = self._with_extensions(builder, profile, req, issuer, emails, serial)
        copy, findings = self._linted_copy(builder, KeySpec.parse(ca.key_spec), profile)
        return Prepared(
            issuer_id=ca.id,
            issuer_name=ca.name,
            serial=serial,
            profile=profile.name,
            tbs_der=copy.tbs_certificate_bytes,
            findings=tuple(findings),
            request=req,
        )

    def _checked_request(
        self, req: IssueRequest, self_signed: bool
    ) -> tuple[Profile, x509.Name, list[str]]:
        """The profile, subject and SAN e-mails of ``req``, checked against the profile."""
        profile = self.profile(req.profile)
        if self_signed != (profile.kind == "root"):
            raise IssuanceError("profile", f"profile {profile.name} cannot be used for this CA")
        try:
            check_public_key(req.public_key, profile.key_types)
        except CaError as ex:
            raise IssuanceError("public_key", getattr(ex, "reason", str(ex))) from None
        try:
            subject = build_subject(profile, req.subject)
            emails = check_emails(profile, list(req.emails))
        except (SubjectError, ExtensionError) as ex:
            raise IssuanceError(ex.field, ex.reason) from None
        return profile, subject, emails

    def _validity(
        self, profile: Profile, req: IssueRequest, issuer: _IssuerView
    ) -> tuple[dt.datetime, dt.datetime]:
        """(notBefore, notAfter): backdated a little, at most the profile's maximum, and
        within the issuer's own validity."""
        now = self.clock().replace(microsecond=0)
        not_before = (req.not_before or (now - BACKDATE)).astimezone(dt.UTC).replace(microsecond=0)
        days = profile.max_validity_days if req.validity_days is None else req.validity_days
        if days <= 0:
            raise IssuanceError("validity_days", "must be positive")
        if days > profile.max_validity_days:
            raise IssuanceError(
                "validity_days",
                f"{days} days exceeds the profile's maximum of {profile.max_validity_days}",
            )
        # RFC 5280 §4.1.2.5: validity is inclusive, so the period is notAfter - notBefore + 1 s.
        not_after = not_before + dt.timedelta(days=days) - dt.timedelta(seconds=1)
        cert = issuer.cert
        if cert is None:
            return not_before, not_after
        if req.validity_days is None and not_after > cert.not_valid_after_utc:
            # No validity asked for: the profile's maximum, cut to the issuer's own end.
            not_after = cert.not_valid_after_utc
        if not_after > cert.not_valid_after_utc:
            raise IssuanceError(
                "validity_days",
                f"certificate would outlive its issuer {issuer.ca_name} "
                f"(issuer notAfter {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})",
            )
        if not_before < cert.not_valid_before_utc:
            raise IssuanceError("not_before", f"before the issuer {issuer.ca_name} became valid")
        return not_before, not_after

    def _with_extensions(
        self,
        builder: x509.CertificateBuilder,
        profile: Profile,
        req: IssueRequest,
        issuer: _IssuerView,
        emails: list[str],
        serial: int,
    ) -> x509.CertificateBuilder:
        """``builder`` with the profile's extensions (URLs under the base URL; an end-entity
        certificate names its partition CRL)."""
        try:
            extensions = build_extensions(
                profile,
                public_key=req.public_key,
                issuer_public_key=issuer.public_key,
                base_url=self.base_url,
                ca_name=issuer.ca_name,
                issuer_name=issuer.ca_name,
                emails=emails,
                crl_partition=None if profile.ca else partition_of(serial, self.crl_partitions),
            )
        except (SubjectError, ExtensionError) as ex:
            raise IssuanceError(ex.field, ex.reason) from None
        for ext, critical in extensions:
            builder = builder.add_extension(ext, critical=critical)
        return builder

    def _linted_copy(
        self, builder: x509.CertificateBuilder, issuer_spec: KeySpec, profile: Profile
    ) -> tuple[x509.Certificate, list[lint.Finding]]:
        """A copy signed with a throwaway key of the issuer's algorithm, and its lint findings;
        raises LintError for a blocking finding not waived (BR 4.3.1.2 "lint before sign")."""
        copy = builder.sign(throwaway_key(issuer_spec), hash_for(issuer_spec))
        findings = lint.lint_certificate(
            copy.public_bytes(serialization.Encoding.DER), profile.lint
        )
        bad = [f for f in lint.blocking(findings) if f.code not in self.lint_waivers]
        if bad:
            raise lint.LintError(bad)
        return copy, list(findings)

    def _check_known_key(
        self, ca: CertificateAuthority, req: IssueRequest, known: KnownKey
    ) -> None:
        """Not on the blocklist; one key, one subscriber; and no duplicate of a live
        certificate (same key + profile)."""
        for digest in known.blocked:  # the same words as keycheck.check_public_key
            raise IssuanceError("public_key", f"listed as compromised (SPKI SHA-256 {digest})")
        now = self.clock()
        for sub_id, profile, status, not_after, sh, issuer_id in known.certified:
            if sub_id is not None and req.subscriber_id is not None and sub_id != req.subscriber_id:
                raise IssuanceError(
                    "public_key", "this key is already certified for another subscriber"
                )
            live = status != "revoked" and not_after >= now
            if live and profile == req.profile and issuer_id == ca.id and not req.renewal:
                raise IssuanceError(
                    "request",
                    f"duplicate: certificate {sh} already certifies this key under "
                    f"profile {profile} (renew instead)",
                )

    # -- issue ------------------------------------------------------------------------------------
    def issue(self, ca_name: str, req: IssueRequest, *, self_signed: bool = False) -> Issued:
        """The whole pipeline for one certificate. Idempotent per ``req.idempotency_key``."""
        ca = self._ca(ca_name)
        if not self_signed and ca.certificate_der is not None:
            # Read every time (the CA row cache does not cover status): a CA revoked or
            # suspended a moment ago, or expired, issues nothing more.
            require_good_chain(self.store, ca.id, self.clock())
        if req.idempotency_key:
            earlier = self._db.reserved_for_key(ca.id, req.idempotency_key)
            if earlier is not None:
                return self.recover(ca.id, earlier)
        prepared = self.prepare(ca, req, self_signed=self_signed)
        earlier = self._reserve(ca, prepared)
        if earlier is not None:  # the same idempotency key, reserved meanwhile
            return self.recover(ca.id, earlier)
        return self._sign_and_store(ca, prepared.serial, prepared.tbs_der, req, recovered=False)

    def _ca(self, name: str) -> CertificateAuthority:
        """The CA row. A certified CA's row is kept for CA_CACHE_SECONDS: issuance reads only
        its id, key and certificate, which do not change once it is certified."""
        now = time.monotonic()
        hit = self._cas.get(name)
        if hit is not None and now - hit[0] < CA_CACHE_SECONDS:
            return hit[1]
        ca = self._db.ca(name)
        if ca is None:
            raise NotFoundError(f"no CA named {name!r}")
        if ca.certificate_der is not None:
            self._cas[name] = (now, ca)
        return ca

    def _reserve(self, ca: CertificateAuthority, p: Prepared) -> str | None:
        """Check the key against the database and reserve the serial, in one transaction.

        Returns the serial already reserved under the request's idempotency key, if another
        request with that key got there first; None when this one is reserved."""
        req = p.request
        return self._db.reserve(
            issuer_id=p.issuer_id,
            idempotency_key=req.idempotency_key,
            spki_sha256=spki_sha256(req.public_key),
            check=lambda known: self._check_known_key(ca, req, known),
            serial_hex=serial_hex(p.serial),
            profile=p.profile,
            tbs_sha256=hashlib.sha256(p.tbs_der).hexdigest(),
            tbs_der=p.tbs_der,
            subscriber_id=req.subscriber_id,
            key_label=req.key_label,
        )

    def _sign_tbs(self, ca: CertificateAuthority, tbs_der: bytes) -> x509.Certificate:
        """Sign the exact TBS bytes in the HSM and assemble the certificate (asn1crypto DER)."""
        tbs = asn1_x509.TbsCertificate.load(tbs_der)
        alg = tbs["signature"]
        signature = hsm_signature(self.backend, ca.key_label, alg, tbs_der)
        der = asn1_x509.Certificate(
            {"tbs_certificate": tbs, "signature_algorithm": alg, "signature_value": signature}
        ).dump()
        cert = x509.load_der_x509_certificate(der)
        if cert.tbs_certificate_bytes != tbs_der:
            raise CaError("internal: the signed TBS differs from the linted TBS")
        return cert

    def _verify_against_issuer(self, ca: CertificateAuthority, cert: x509.Certificate) -> None:
        if ca.certificate_der is not None:
            issuer = _parsed(ca.certificate_der)
        else:
            issuer = cert  # self-signed root being created
        try:
            cert.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError) as ex:
            raise CaError(f"internal: signature by {ca.name} does not verify: {ex}") from None

    def _sign_and_store(
        self,
        ca: CertificateAuthority,
        serial: int,
        tbs_der: bytes,
        req: IssueRequest | None,
        *,
        recovered: bool,
    ) -> Issued:
        cert = self._sign_tbs(ca, tbs_der)
        self._verify_against_issuer(ca, cert)
        _fault("after_hsm_sign")
        der = cert.public_bytes(serialization.Encoding.DER)
        fp = hashlib.sha256(der).hexdigest()
        sh = serial_hex(serial)
        subject = cert.subject.rfc4514_string()
        not_after = cert.not_valid_after_utc

        def audit(profile: str) -> tuple[str, str, str, dict[str, str]]:
            return (
                req.actor if req else "system",
                "certificate.recover" if recovered else "certificate.issue",
                audit_objects.certificate(ca.name, sh),
                {
                    "profile": profile,
                    "subject": subject,
                    "fingerprint_sha256": fp,
                    "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )

        profile = self._db.store_signed(
            ca,
            sh,
            der,
            fp,
            {
                "subject_dn": subject,
                "san": json.dumps(_sans(cert)),
                "not_before": cert.not_valid_before_utc,
                "not_after": not_after,
                "status": "good",
                "spki_sha256": spki_sha256(cert.public_key()),
            },
            audit,
        )
        if profile is None:
            raise CaError(f"serial {sh} is not reserved, or was stored meanwhile")
        self.store.events.publish(StatusEvent("issued", ca.name, sh))
        from ca_core.metrics import CERTIFICATES_ISSUED

        CERTIFICATES_ISSUED.labels(profile).inc()
        return Issued(cert, sh, ca.name, profile, fp, recovered)

    def recover(self, issuer_id: int, sh: str) -> Issued:
        """Complete a reservation: return its stored certificate, or re-sign its identical TBS."""
        r = self._db.reservation(issuer_id, sh)
        if r is None:
            raise NotFoundError(f"no serial {sh} reserved")
        ca, tbs, profile, stored = r.ca, r.tbs_der, r.profile, r.stored_der
        if stored is not None:
            cert = x509.load_der_x509_certificate(stored)
            return Issued(cert, sh, ca.name, profile, hashlib.sha256(stored).hexdigest())
        if tbs is None:
            raise CaError(f"reservation {sh} holds no TBS to recover from")
        return self._sign_and_store(ca, int(sh, 16), tbs, None, recovered=True)


@functools.lru_cache(maxsize=32)
def _parsed(der: bytes) -> x509.Certificate:
    """An issuing CA's certificate, parsed once (each issuance needs it twice)."""
    return x509.load_der_x509_certificate(der)


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [f"email:{v}" for v in san.get_values_for_type(x509.RFC822Name)] + [
        f"dns:{v}" for v in san.get_values_for_type(x509.DNSName)
    ]
