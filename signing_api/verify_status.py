"""The status of every certificate on a signature's paths, at the time that counts.

Which time counts (checklist "PDF signature verification"; ETSI EN 319 102-1 §5.5/§5.6, RFC 3161
§4, RFC 5280 §5.3.1):

* A signature with a trusted signature timestamp is judged at the timestamp's time: each
  certificate on the signer's path (signer, issuing CA) must have been good then. A revocation
  or suspension after that time leaves the signature valid (long-term validation).
* A signature timestamp itself is judged at its own time (genTime) on the TSA's path (TSA unit,
  its CA): a TSA retired after stamping does not void the tokens it made before (RFC 3161 §4).
* Without a trusted timestamp the signing time is only claimed by the signer, so the status
  now counts: a B-B signature whose issuing CA is revoked afterwards is not valid.
* Compromise overrides time. If any certificate on the signer's or the TSA's path is revoked
  with reason keyCompromise, cACompromise or aACompromise — whenever that was — nothing made
  with that key (or under that CA) is trusted any more: whoever held the key could have made
  the signature, or the timestamp that seems to date it, at any time before the revocation,
  whose date records when the CA learnt of it, not when the key was lost. RFC 3161 §4 says so
  for TSA keys ("any token signed by the TSA using that private key cannot be trusted
  anymore"); we apply the same rule to the signer's path. Other reasons (superseded,
  cessationOfOperation, affiliationChanged, privilegeWithdrawn, certificateHold, unspecified)
  take effect from their date.

The validation itself is pyhanko-certvalidator's: a ValidationContext whose ``moment`` is the
time that counts, holding the revocation data of our own store (the current CRLs and
pre-signed OCSP responses, the same bytes the CRL distribution point and the OCSP responder
serve) and of the document (its DSS), freshest OCSP response first, revocation data issued
after the moment accepted (``retroactive_revinfo``: a CRL of today answers for last year).
Our own store's rows are consulted as well, certificate by certificate: they are the source
those CRLs and responses are signed from, and they already hold a revocation that has not been
published yet.

Certificates of other PSrEs (issue 21). The CAs the PSrE Induk recognizes (``recognized_cas``:
licensed PSrEs' CAs it certified, cross-certified foreign roots) join the intermediates, so a
signature made under any recognized PSrE chains to our root. Our store has no row for that
PSrE's signer, TSA or OCSP responder, so their status is what their revocation data says: the
document's own (LTV) and, when ``verify.fetch_revocation`` allows, the PSrE's OCSP answer
fetched now (signing_api.revfetch). A path with such a certificate is validated a second time
requiring revocation data for every certificate on it; good only if that passes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathValidationError, RevokedError
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.validate import async_validate_path

if TYPE_CHECKING:
    from ca_core.store.models import Certificate
    from signing_api.verify_sources import Clock, RevocationSource, TrustSource

#: Revocation reasons (as stored, RFC 5280 names) that void a key's work whatever its date.
COMPROMISE_REASONS = frozenset({"keyCompromise", "cACompromise", "aACompromise"})
#: The same reasons as asn1crypto names them (in CRL entries and OCSP answers).
_COMPROMISE_ASN1 = frozenset({"key_compromise", "ca_compromise", "aa_compromise"})


@dataclass(frozen=True)
class PathCertificate:
    """One certificate of a signer's or TSA's path, as the verify answers show it."""

    #: ``signer``, ``signer-ca``, ``tsa`` or ``tsa-ca`` (a CA between the leaf and the root).
    role: str
    name: str
    serial: str
    #: Status at the time that counts: good|revoked|hold|expired|not_yet_valid|unknown.
    status: str
    #: Status now: good|revoked|hold|expired|unknown.
    status_now: str
    revocation_reason: str | None = None
    revoked_at: dt.datetime | None = None


@dataclass
class Evidence:
    """Everything a ValidationContext of this document is made from."""

    roots: list[asn1_x509.Certificate] = field(default_factory=list)
    others: list[asn1_x509.Certificate] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)
    #: Recognized CAs' certificates (DER) → the PSrE's name, for the verdict.
    recognized: dict[bytes, str] = field(default_factory=dict)

    def context(
        self, moment: dt.datetime | None, *, require_revinfo: bool = False
    ) -> ValidationContext:
        """pyhanko-certvalidator's context at ``moment`` (None: now); ``require_revinfo``:
        every certificate but the anchor must have valid revocation data."""
        return ValidationContext(
            trust_roots=self.roots,
            other_certs=self.others,
            crls=self.crls,
            ocsps=self.ocsps,
            moment=moment,
            retroactive_revinfo=True,
            allow_fetching=False,
            # A certificate without revocation data is judged by our store's row (below);
            # revocation data that is there and says revoked always counts.
            revocation_mode="require" if require_revinfo else "soft-fail",
        )


def gather(
    trust: TrustSource,
    revinfo: RevocationSource,
    certs: Iterable[asn1_x509.Certificate],
    doc_crls: Iterable[asn1_crl.CertificateList],
    doc_ocsps: Iterable[asn1_ocsp.OCSPResponse],
) -> Evidence:
    """Trust anchors (our roots), our CAs and the recognized ones (``trust``), the revocation
    data of ``revinfo`` — every CA's newest CRLs (complete, partitions, delta) and the current
    OCSP response of each of our certificates the document carries — and of the document."""
    ev = Evidence()
    cas = trust.trusted_cas()
    ev.roots = [asn1_x509.Certificate.load(der) for der in cas.roots]
    ev.others = [asn1_x509.Certificate.load(der) for der in cas.intermediates]
    ev.recognized = dict(cas.recognized)
    carried = _unique([*ev.others, *certs])
    ev.others = carried
    store_crls = [asn1_crl.CertificateList.load(der) for der in revinfo.crls()]
    store_ocsps = []
    for cert in carried:
        if cert.self_signed != "no":
            continue
        der = revinfo.ocsp_response(x509.load_der_x509_certificate(cert.dump()))
        if der is not None:
            store_ocsps.append(asn1_ocsp.OCSPResponse.load(der))
    doc_ocsps = list(doc_ocsps)
    fetched = _fetch_foreign(revinfo, ev, carried, doc_ocsps)
    ev.crls = _unique([*store_crls, *doc_crls])
    ev.ocsps = sorted(_unique([*store_ocsps, *doc_ocsps, *fetched]), key=_produced_at, reverse=True)
    return ev


def _fetch_foreign(
    revinfo: RevocationSource,
    ev: Evidence,
    carried: list[asn1_x509.Certificate],
    doc_ocsps: list[asn1_ocsp.OCSPResponse],
) -> list[asn1_ocsp.OCSPResponse]:
    """The live OCSP answers of certificates issued by a recognized CA for which the document
    carries none (signing_api.revfetch says what is fetched, and how bounded)."""
    from signing_api import revfetch

    limits = revinfo.fetch
    if limits is None or not ev.recognized:
        return []
    issuers = [x509.load_der_x509_certificate(der) for der in ev.recognized]
    out: list[asn1_ocsp.OCSPResponse] = []
    for cert in carried:
        if len(out) >= limits.max_requests or cert.self_signed != "no":
            continue
        c = x509.load_der_x509_certificate(cert.dump())
        issuer = next((i for i in issuers if revfetch.issued_by(c, i)), None)
        if issuer is None or stored(revinfo, cert) is not None:
            continue
        if any(_answers(r, cert) for r in doc_ocsps):
            continue
        resp = revfetch.fetch_ocsp(
            cert, asn1_x509.Certificate.load(issuer.public_bytes(Encoding.DER)), limits
        )
        if resp is not None:
            out.append(resp)
    return out


def _answers(resp: asn1_ocsp.OCSPResponse, cert: asn1_x509.Certificate) -> bool:
    """Whether ``resp`` has a SingleResponse for ``cert`` (by issuer name hash and serial)."""
    try:
        basic = resp.basic_ocsp_response
        for single in basic["tbs_response_data"]["responses"]:
            cid = single["cert_id"]
            alg = cid["hash_algorithm"]["algorithm"].native
            if cid["serial_number"].native == cert.serial_number and (
                hashlib.new(alg, cert.issuer.dump()).digest() == cid["issuer_name_hash"].native
            ):
                return True
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return False


def _unique(items: list) -> list:
    seen: set[bytes] = set()
    out = []
    for item in items:
        der = item.dump()
        if der not in seen:
            seen.add(der)
            out.append(item)
    return out


def _produced_at(resp: asn1_ocsp.OCSPResponse) -> dt.datetime:
    """Freshest first: certvalidator stops at the first OCSP answer that says good."""
    try:
        return resp.basic_ocsp_response["tbs_response_data"]["produced_at"].native
    except (ValueError, KeyError, TypeError, AttributeError):
        return dt.datetime.min.replace(tzinfo=dt.UTC)


# --- our store's rows ---------------------------------------------------------------------------


def stored(revinfo: RevocationSource, cert: asn1_x509.Certificate) -> Certificate | None:
    """Our record of ``cert``, or None if we did not issue exactly this certificate."""
    fingerprint = hashlib.sha256(cert.dump()).hexdigest()
    row = revinfo.record(cert.serial_number)
    if row is None:
        return None
    return row if row.fingerprint_sha256 == fingerprint else None


def status_now(row: Certificate | None, now: dt.datetime) -> str:
    if row is None:
        return "unknown"  # same serial, another certificate: not ours
    if row.status != "good":
        return row.status
    if row.not_after < now:
        return "expired"
    return "good"


def status_at(row: Certificate | None, at: dt.datetime) -> str:
    """The status ``row`` had at ``at``: revocations count from their invalidity date (the
    earlier of it and the revocation date); a compromise counts always (module docstring)."""
    if row is None:
        return "unknown"
    if row.status == "revoked" and row.revocation_reason in COMPROMISE_REASONS:
        return "revoked"
    if at < row.not_before:
        return "not_yet_valid"
    if at > row.not_after:
        return "expired"
    if row.status != "good" and row.revoked_at is not None:
        since = min(d for d in (row.revoked_at, row.invalidity_date) if d is not None)
        if at >= since:
            return row.status
    return "good"


# --- the paths ----------------------------------------------------------------------------------


def path_report(
    revinfo: RevocationSource,
    clock: Clock,
    path: ValidationPath | None,
    leaf: asn1_x509.Certificate,
    kind: str,
    at: dt.datetime | None,
    ev: Evidence | None = None,
) -> list[PathCertificate]:
    """Each non-root certificate of ``path`` (or just ``leaf`` when no path was built), leaf
    first, with its status at ``at`` (None: now) from our store — or, for a certificate of a
    recognized PSrE that our store does not hold, from its revocation data in ``ev``."""
    certs = list(path.iter_certs(include_root=False)) if path is not None else [leaf]
    rows = {cert.dump(): stored(revinfo, cert) for cert in certs}
    foreign: tuple[str, str] | None = None
    if ev is not None and path is not None and any(r is None for r in rows.values()):
        foreign = foreign_status(ev, path, at)
    out = []
    for cert in reversed(certs):
        if cert.self_signed != "no":
            continue  # a trust anchor: nothing revokes it
        row = rows[cert.dump()]
        now = status_now(row, clock())
        then = now if at is None else status_at(row, at)
        if row is None and foreign is not None:
            then, now = foreign
        out.append(
            PathCertificate(
                role=kind if cert.dump() == leaf.dump() else f"{kind}-ca",
                name=str(cert.subject.native.get("common_name", "")),
                serial=format(cert.serial_number, "x"),
                status=then,
                status_now=now,
                revocation_reason=row.revocation_reason if row is not None else None,
                revoked_at=row.revoked_at if row is not None else None,
            )
        )
    return out


def foreign_status(ev: Evidence, path: ValidationPath, at: dt.datetime | None) -> tuple[str, str]:
    """(status at ``at``, status now) of the certificates of ``path`` that our store does not
    hold, from revocation data alone: ``path`` validated requiring revocation data for every
    certificate on it. ``good`` if that passes, ``revoked`` if the data says so, else
    ``unknown`` (no or no valid revocation data: never good)."""
    then = _judge(ev, path, at)
    return then, (then if at is None else _judge(ev, path, None))


def _judge(ev: Evidence, path: ValidationPath, at: dt.datetime | None) -> str:
    try:
        asyncio.run(async_validate_path(ev.context(at, require_revinfo=True), path))
    except RevokedError:
        return "revoked"
    except (PathValidationError, ValueError):
        return "unknown"
    return "good"


def recognized_psre(ev: Evidence, path: ValidationPath | None) -> str | None:
    """The recognized PSrE (the trusted list's name) whose CA is on ``path``, if any."""
    if path is None:
        return None
    for cert in path.iter_certs(include_root=False):
        name = ev.recognized.get(cert.dump())
        if name is not None:
            return name
    return None


def compromised_in_revinfo(ev: Evidence, path: ValidationPath | None) -> str | None:
    """A compromise on ``path`` that the revocation data (store's or document's) reports now,
    as certvalidator finds it validating the path at the current time; None if none."""
    if path is None:
        return None
    try:
        asyncio.run(async_validate_path(ev.context(None), path))
    except RevokedError as err:
        if err.reason.native in _COMPROMISE_ASN1:
            return str(err)
    except (PathValidationError, ValueError):
        return None  # expired since, for instance: only a compromise matters here
    return None


def _compromised(c: PathCertificate) -> bool:
    return c.status_now == "revoked" and c.revocation_reason in COMPROMISE_REASONS


def compromise_problem(chain: list[PathCertificate], what: str) -> str | None:
    """The problem text for the first certificate of ``chain`` revoked for a compromise."""
    for c in chain:
        if _compromised(c):
            when = c.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if c.revoked_at else "?"
            return (
                f"the {_role_text(c.role)} certificate {c.name} ({c.serial}) was revoked for "
                f"{c.revocation_reason} at {when}: {what} cannot be trusted whatever its time"
            )
    return None


def status_problems(chain: list[PathCertificate], when: str, *, past: bool) -> list[str]:
    """One problem per certificate not good at the time that counts. Judged in the ``past``,
    a compromise is left to compromise_problem (it is not a status at that time)."""
    out = []
    for c in chain:
        if c.status == "good" or (past and _compromised(c)):
            continue
        reason = (
            f", {c.revocation_reason}" if c.revocation_reason and c.status == c.status_now else ""
        )
        out.append(
            f"the {_role_text(c.role)} certificate {c.name} ({c.serial}) is {c.status} "
            f"({when}{reason})"
        )
    return out


def _role_text(role: str) -> str:
    return {
        "signer": "signer's",
        "signer-ca": "signer's CA",
        "tsa": "TSA's",
        "tsa-ca": "TSA's CA",
    }.get(role, role)
