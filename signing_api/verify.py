"""Verify the signatures of a PDF against this PSrE's own hierarchy (pyHanko's validator).

Trust anchors are our root CAs, intermediates our other CAs and the CAs we recognize (the PSrE
Induk's licensed PSrEs and cross-certified roots); nothing is fetched from the network unless
``verify.fetch_revocation`` lets the verifier ask a recognized PSrE's OCSP responder.
Every certificate on the signer's and the TSA's paths is checked at the time that counts — the
trusted signature timestamp's time if there is one, else now — against the revocation data of
our own store and of the document, by pyhanko-certvalidator, and against our store's rows
(signing_api.verify_status says which time counts and why a compromise overrides it). A
certificate we did not issue is ``unknown`` and never ``good``.

Default-deny on changes after signing (checklist "PDF signature verification must reject"):
a signature is only valid if the bytes after its revision are nothing but later signatures,
document timestamps and validation data (DSS). Content changed in an incremental update, a
ByteRange that is not [0, hole, hole end, revision end] (signature wrapping), annotations added
afterwards, or changes beyond a certification signature's DocMDP permissions: not valid. A
missing, empty or zeroed /Contents or /ByteRange cannot be read as a signature: not valid.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import (
    PdfSignatureStatus,
    SignatureStatus,
    TimestampSignatureStatus,
)

from ca_core.errors import CaError
from signing_api import verify_status
from signing_api.pdf_pool import DocumentTooComplexError, PdfPool
from signing_api.verify_status import PathCertificate

if TYPE_CHECKING:
    from signing_api.verify_sources import Clock, RevocationSource, TrustSource

#: Statuses a certificate can have on this page and in the verify API.
CERT_STATUSES = ("good", "revoked", "hold", "unknown", "expired")


@dataclass(frozen=True)
class SignatureReport:
    field_name: str
    signer_name: str
    agency: str | None
    nik: str | None
    signing_time: dt.datetime | None
    timestamp_time: dt.datetime | None
    certificate_serial: str
    certificate_status: str  # good|revoked|hold|unknown|expired
    intact: bool
    modified_after_signing: bool
    trusted: bool
    valid: bool
    level: str  # B-B|B-T|B-LT|B-LTA
    problems: list[str]
    # -- added for the e-sign verify APIs; all optional ----------------------------------
    reason: str | None = None
    location: str | None = None
    signer_dn: str = ""
    issuer_dn: str = ""
    cert_not_before: dt.datetime | None = None
    cert_not_after: dt.datetime | None = None
    key_usages: list[str] = field(default_factory=list)
    #: e.g. ``sha256_ecdsa``; and the digest of the signed byte ranges (hex).
    signature_algorithm: str = ""
    digest_algorithm: str = ""
    document_digest: str = ""
    #: SignatureCoverageLevel name: ENTIRE_FILE, ENTIRE_REVISION, ...
    coverage: str = ""
    #: The certificate's status at the time that counts (``validated_at``, else now);
    #: CERT_STATUSES or ``not_yet_valid``.
    status_at_signing: str = "unknown"
    timestamp_trusted: bool = False
    tsa_name: str | None = None
    #: Every certificate on the signer's and the TSA's paths has revocation data in the DSS.
    ltv: bool = False
    #: The time the paths were judged at: the trusted timestamp's; None when judged now.
    validated_at: dt.datetime | None = None
    #: The signer's path (leaf first, root left out) and the signature timestamp's TSA path,
    #: each certificate with its status then and now.
    chain: list[PathCertificate] = field(default_factory=list)
    tsa_chain: list[PathCertificate] = field(default_factory=list)
    #: The recognized PSrE (on the PSrE Induk's trusted list) whose CA issued the signer's
    #: certificate; None for this installation's own CAs or an unknown signer.
    psre: str | None = None


@dataclass(frozen=True)
class PdfReport:
    summary: str  # VALID|INVALID|NO_SIGNATURE
    signatures: list[SignatureReport]
    #: Document timestamps (B-LTA), all of which verify when ``summary`` is VALID.
    document_timestamps: int = 0


#: What pyHanko raises on a malformed PDF: its own errors, and asserts and recursion in its
#: reader (an object stream that is not one, reference loops).
_READ_FAULTS = (PdfReadError, ValueError, KeyError, TypeError, AssertionError, RecursionError)


class NotAPdfError(CaError):
    code = "not_a_pdf"


@dataclass(frozen=True)
class SigDetails:
    """What the e-sign API's answers show of a signature besides the report (DER)."""

    chain: tuple[bytes, ...]
    tsa: bytes | None
    signature_value: str


#: Certificates of a signature's CMS shown in the details (a CMS may carry any number).
MAX_DETAIL_CERTS = 10


def verify_pdf(
    trust: TrustSource,
    revinfo: RevocationSource,
    clock: Clock,
    data: bytes,
    password: str | None = None,
    deadline: float | None = None,
    *,
    pool: PdfPool,
) -> PdfReport:
    """Validate every signature in ``data``; raises NotAPdfError if it cannot be read as PDF.

    The document is read in a bounded child process (signing_api.pdf_pool, the ``[pdf]``
    budgets and ``deadline``): DocumentTooComplexError (4131) over them, including a document
    with more than ``pdf.max_signature_fields`` filled signature fields.
    """
    return verify_pdf_details(trust, revinfo, clock, data, password, deadline, pool=pool)[0]


def verify_pdf_details(
    trust: TrustSource,
    revinfo: RevocationSource,
    clock: Clock,
    data: bytes,
    password: str | None = None,
    deadline: float | None = None,
    *,
    pool: PdfPool,
) -> tuple[PdfReport, dict[str, SigDetails]]:
    """:func:`verify_pdf`, with each signature's certificates and signature value by field.

    ``trust``, ``revinfo`` and ``clock`` cross into the child (signing_api.verify_sources: the
    store-backed sources open a read-only connection of their own there, since the look-ups
    depend on the certificates the document carries); it never touches the HSM.
    """
    from signing_api import pdf_jobs

    return pool.run(
        pdf_jobs.verify_document,
        trust,
        revinfo,
        clock,
        data,
        password,
        pool.budget.max_signature_fields,
        deadline=deadline,
    )


def analyse(
    trust: TrustSource,
    revinfo: RevocationSource,
    clock: Clock,
    data: bytes,
    password: str | None,
    max_fields: int,
) -> tuple[PdfReport, dict[str, SigDetails]]:
    """The verification itself, on untrusted bytes: runs in a PDF worker."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            if not password:
                raise NotAPdfError("the PDF is encrypted: a password is needed")
            if reader.decrypt(password).status == AuthStatus.FAILED:
                raise NotAPdfError("wrong password for the encrypted PDF")
        embedded, doc_timestamps, unreadable = _collect(reader, max_fields)
    except _READ_FAULTS as ex:
        raise NotAPdfError("the file is not a readable PDF") from ex
    if not embedded and not unreadable:
        return PdfReport("NO_SIGNATURE", [], len(doc_timestamps)), {}
    sig_fields = {s.field_name for s in (*embedded, *doc_timestamps)}
    dss = _dss_revinfo(reader)
    ev = verify_status.gather(
        trust,
        revinfo,
        [*_carried_certs([*embedded, *doc_timestamps]), *(dss.certs if dss else [])],
        dss.crls if dss else [],
        dss.ocsps if dss else [],
    )
    reports = list(unreadable)
    for sig in embedded:
        try:
            reports.append(
                _verify_one(revinfo, clock, ev, sig, sig_fields, dss, bool(doc_timestamps))
            )
        except (SignatureValidationError, *_READ_FAULTS) as ex:
            reports.append(_broken(sig.field_name, str(ex)))
    for ts in doc_timestamps:
        problem = _doc_timestamp_problem(revinfo, clock, ev, ts)
        if problem is not None:
            reports = [_with_problem(r, problem) for r in reports]
    summary = "VALID" if all(r.valid for r in reports) else "INVALID"
    details = {str(k): v for k, v in _details(embedded).items()}
    return PdfReport(summary, [_plain(r) for r in reports], len(doc_timestamps)), details


def _plain(r: SignatureReport) -> SignatureReport:
    """``r`` with pyHanko's string types (field names, /Reason) made plain ``str``: the report
    leaves the PDF worker, whose answers may hold only plain values."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(r):
        v = getattr(r, f.name)
        if isinstance(v, str) and type(v) is not str:
            changes[f.name] = str(v)
        elif isinstance(v, list):
            changes[f.name] = [str(x) if isinstance(x, str) else x for x in v]
    return replace(r, **changes)


def _details(sigs: list[EmbeddedPdfSignature]) -> dict[str, SigDetails]:
    """Per signature field; best effort (the report has judged the signatures already)."""
    out: dict[str, SigDetails] = {}
    for sig in sigs:
        try:
            certs = [c.chosen for c in sig.signed_data["certificates"] or []]
            chain = [c for c in certs if isinstance(c, asn1_x509.Certificate)]
            tsa = _tsa_cert(sig.signer_info)
            out[sig.field_name] = SigDetails(
                chain=tuple(c.dump() for c in chain[:MAX_DETAIL_CERTS]),
                tsa=tsa.dump() if tsa is not None else None,
                signature_value=sig.signer_info["signature"].native.hex(),
            )
        except Exception:  # noqa: S112 - a broken signature is in the report already
            continue
    return out


def _tsa_cert(signer_info: cms.SignerInfo) -> asn1_x509.Certificate | None:
    for attr in signer_info["unsigned_attrs"] or []:
        if attr["type"].native != "signature_time_stamp_token":
            continue
        for choice in attr["values"][0]["content"]["certificates"] or []:
            cert = choice.chosen
            eku = cert.extended_key_usage_value if isinstance(cert, asn1_x509.Certificate) else None
            if eku is not None and "time_stamping" in eku.native:
                return cert
    return None


def _collect(
    reader: PdfFileReader, max_fields: int
) -> tuple[list[EmbeddedPdfSignature], list[EmbeddedPdfSignature], list[SignatureReport]]:
    """Signatures, document timestamps, and reports for filled fields that are no signature.

    pyHanko skips a signature with an unknown /SubFilter and fails on the whole file for one
    with unreadable /Contents; both would hide a bad signature, so each field is read here.
    More than ``max_fields`` filled fields: DocumentTooComplexError. A field whose signature
    value is another field's (copied fields, each costing a full validation) is reported as
    not a signature of its own, without validating it again.
    """
    regular: list[EmbeddedPdfSignature] = []
    stamps: list[EmbeddedPdfSignature] = []
    unreadable: list[SignatureReport] = []
    seen: dict[bytes, str] = {}
    for n, (name, sig_obj, sig_field) in enumerate(
        enumerate_sig_fields(reader, filled_status=True), start=1
    ):
        if n > max_fields:
            raise DocumentTooComplexError(
                f"the document has more than {max_fields} filled signature fields"
            )
        try:
            sub = sig_obj.get_object().get("/SubFilter")
            if sub not in _SUBFILTERS:
                raise SignatureValidationError(f"unsupported /SubFilter {sub}")
            sig = EmbeddedPdfSignature(reader, sig_field, name)
            key = hashlib.sha256(sig.pkcs7_content).digest()
            if key in seen:
                raise SignatureValidationError(f"it is the signature of field {seen[key]}")
            seen[key] = name
            sig.signed_revision  # noqa: B018 - reads /ByteRange now
        except (SignatureValidationError, *_READ_FAULTS) as ex:
            unreadable.append(_broken(name, str(ex)))
            continue
        (stamps if sig.sig_object_type == "/DocTimeStamp" else regular).append(sig)
    regular.sort(key=lambda s: s.signed_revision)
    return regular, stamps, unreadable


_SUBFILTERS = {f.value for f in SigSeedSubFilter}


def _carried_certs(sigs: list[EmbeddedPdfSignature]) -> list[asn1_x509.Certificate]:
    """Every certificate in the signatures' CMS and in their timestamp tokens."""
    out: list[asn1_x509.Certificate] = []
    for sig in sigs:
        blocks = [sig.signed_data, *_timestamp_tokens(sig)]
        for sd in blocks:
            for choice in sd["certificates"] or []:
                if isinstance(choice.chosen, asn1_x509.Certificate):
                    out.append(choice.chosen)
    return out


def _timestamp_tokens(sig: EmbeddedPdfSignature) -> list[cms.SignedData]:
    if sig.sig_object_type == "/DocTimeStamp":
        return []
    try:
        return list(extract_tst_data_iter(sig.signer_info, signed=False))
    except (ValueError, KeyError, TypeError):
        return []


def _gen_time(token: cms.SignedData) -> dt.datetime | None:
    """The time a timestamp token claims (its TSTInfo genTime), before it is validated."""
    try:
        return token["encap_content_info"]["content"].parsed["gen_time"].native
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _verify_one(
    revinfo: RevocationSource,
    clock: Clock,
    ev: verify_status.Evidence,
    sig: EmbeddedPdfSignature,
    sig_fields: set[str],
    dss: _DssRevinfo | None,
    has_doc_ts: bool,
) -> SignatureReport:
    """Validate ``sig`` at the time that counts (signing_api.verify_status's docstring)."""
    tokens = _timestamp_tokens(sig)
    claimed = _gen_time(tokens[0]) if tokens else None
    # The timestamp is judged at its own time; the signer first at the same time, and again
    # now if the timestamp turns out not to be trustworthy.
    ts_context = ev.context(claimed)
    st = validate_pdf_signature(sig, ev.context(claimed), ts_context)
    ts = st.timestamp_validity
    ts_problems: list[str] = []
    tsa_chain: list[verify_status.PathCertificate] = []
    if ts is not None:
        tsa_chain = verify_status.path_report(
            revinfo, clock, ts.validation_path, ts.signing_cert, "tsa", ts.timestamp, ev
        )
        ts_problems = _timestamp_problems(ev, ts, tsa_chain, "the signature timestamp")
    ts_trusted = ts is not None and not ts_problems
    if claimed is not None and not ts_trusted:
        st = validate_pdf_signature(sig, ev.context(None), ts_context)
    at = ts.timestamp if ts_trusted and ts is not None else None
    chain = verify_status.path_report(
        revinfo, clock, st.validation_path, st.signing_cert, "signer", at, ev
    )
    return _report(sig, st, chain, tsa_chain, ts_problems, ev, sig_fields, dss, has_doc_ts)


def _timestamp_problems(
    ev: verify_status.Evidence,
    ts: TimestampSignatureStatus,
    tsa_chain: list[verify_status.PathCertificate],
    what: str,
) -> list[str]:
    """Why a timestamp cannot date anything: broken, untrusted at its time, or its TSA's path
    compromised since (RFC 3161 §4)."""
    if not (ts.intact and ts.valid):
        return [f"{what} does not verify"]
    problems = []
    if not ts.trusted:
        problems.append(f"{what} is not trusted at its time ({_trust_problem(ts)})")
    problems += verify_status.status_problems(tsa_chain, "when it stamped", past=True)
    compromise = verify_status.compromise_problem(tsa_chain, what)
    if compromise is None and not problems:
        compromise = verify_status.compromised_in_revinfo(ev, ts.validation_path)
    if compromise is not None:
        problems.append(compromise)
    return problems


def _trust_problem(st: SignatureStatus) -> str:
    if st.validation_path is None:
        return "no path to this PSrE's root"
    if st.revocation_details is not None:
        rd = st.revocation_details
        whose = "a CA certificate on the path" if rd.ca_revoked else "the certificate"
        when = rd.revocation_date.strftime("%Y-%m-%dT%H:%M:%SZ")
        reason = rd.revocation_reason.native
        return f"the revocation data says {whose} was revoked at {when} ({reason})"
    indic = st.trust_problem_indic
    return indic.standard_name if indic is not None else "not trusted"


def _report(
    sig: EmbeddedPdfSignature,
    st: PdfSignatureStatus,
    chain: list[verify_status.PathCertificate],
    tsa_chain: list[verify_status.PathCertificate],
    ts_problems: list[str],
    ev: verify_status.Evidence,
    sig_fields: set[str],
    dss: _DssRevinfo | None,
    has_doc_ts: bool,
) -> SignatureReport:
    cert = st.signing_cert
    subject = cert.subject.native
    serial = format(cert.serial_number, "x")
    leaf = chain[0] if chain and chain[0].role == "signer" else None
    cert_status = leaf.status_now if leaf else "unknown"
    coverage = st.coverage.name if st.coverage is not None else "UNKNOWN"
    modified = _modified(st, sig_fields)
    ts = st.timestamp_validity
    ts_trusted = ts is not None and not ts_problems
    at = ts.timestamp if ts_trusted and ts is not None else None
    at_signing = leaf.status if leaf else "unknown"
    problems = _problems(st, chain, ev, at, modified) + ts_problems
    tsa_path = _path_of(ts) if ts is not None else []
    ltv = dss is not None and ts_trusted and dss.covers([*_path_of(st), *tsa_path])
    level = _level(ts is not None, ltv, has_doc_ts)
    nik = subject.get("serial_number")
    # bottom_line includes pyHanko's own DocMDP judgement; ours is stricter (``modified``).
    valid = st.intact and st.valid and st.trusted and not problems
    reason = sig.sig_object.get("/Reason")
    location = sig.sig_object.get("/Location")
    return SignatureReport(
        field_name=sig.field_name,
        signer_name=str(subject.get("common_name", "")),
        agency=subject.get("organization_name"),
        nik=nik.removeprefix("PNOID-") if isinstance(nik, str) else None,
        signing_time=st.signer_reported_dt,
        timestamp_time=ts.timestamp if ts is not None else None,
        certificate_serial=serial,
        certificate_status=cert_status,
        intact=bool(st.intact),
        modified_after_signing=modified,
        trusted=bool(st.trusted),
        valid=bool(valid),
        level=level,
        problems=problems,
        reason=str(reason) if reason is not None else None,
        location=str(location) if location is not None else None,
        signer_dn=_rfc4514(cert, "subject"),
        issuer_dn=_rfc4514(cert, "issuer"),
        cert_not_before=cert.not_valid_before,
        cert_not_after=cert.not_valid_after,
        key_usages=sorted(cert.key_usage_value.native if cert.key_usage_value else []),
        signature_algorithm=st.pkcs7_signature_mechanism,
        digest_algorithm=st.md_algorithm,
        document_digest=sig.compute_digest().hex(),
        coverage=coverage,
        status_at_signing=at_signing,
        timestamp_trusted=ts_trusted,
        tsa_name=_cn(ts.signing_cert) if ts is not None else None,
        ltv=bool(ltv),
        validated_at=at,
        chain=chain,
        tsa_chain=tsa_chain,
        psre=verify_status.recognized_psre(ev, st.validation_path),
    )


def _problems(
    st: PdfSignatureStatus,
    chain: list[verify_status.PathCertificate],
    ev: verify_status.Evidence,
    at: dt.datetime | None,
    modified: bool,
) -> list[str]:
    """Why the signature is not valid (the timestamp's own problems aside); ``at`` is the
    trusted timestamp's time, if any."""
    problems: list[str] = []
    if not st.intact:
        problems.append("the signed bytes were changed (digest mismatch)")
    elif not st.valid:
        problems.append("the cryptographic signature does not verify")
    when = "when it was timestamped" if at is not None else "now"
    status_problems = verify_status.status_problems(chain, when, past=at is not None)
    if st.validation_path is None:
        problems.append("the signer's certificate does not chain to this PSrE's root")
    elif not st.trusted and not status_problems:
        problems.append(f"the signer's certificate path does not validate: {_trust_problem(st)}")
    problems += status_problems
    if at is not None:
        # Judged at the timestamp's time: a compromise since then still voids it.
        compromise = verify_status.compromise_problem(chain, "the signature")
        if compromise is None and st.trusted and not status_problems:
            compromise = verify_status.compromised_in_revinfo(ev, st.validation_path)
        if compromise is not None:
            problems.append(compromise)
    if modified:
        problems.append("the document was changed after it was signed")
    return problems


def _level(timestamped: bool, ltv: bool, has_doc_ts: bool) -> str:
    """The PAdES baseline level the signature reaches."""
    if not timestamped:
        return "B-B"
    if not ltv:
        return "B-T"
    return "B-LTA" if has_doc_ts else "B-LT"


def _modified(st: PdfSignatureStatus, sig_fields: set[str]) -> bool:
    """Default-deny: anything after the signed revision but signatures and DSS is a change."""
    cov = st.coverage
    if cov is not None and cov.name == "ENTIRE_FILE":
        return False
    if cov is None or cov.name != "ENTIRE_REVISION":
        return True  # a hole besides /Contents, or a revision cut short: signature wrapping
    if st.docmdp_ok is False:
        return True  # beyond a certification signature's permissions, or pyHanko saw OTHER
    diff = st.diff_result
    if not isinstance(diff, DiffResult):
        return True  # the difference analysis found something suspicious
    level = diff.modification_level
    if level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES):
        return False
    # Later signatures fill signature fields; filling any other field changes the content.
    return not (level == ModificationLevel.FORM_FILLING and diff.changed_form_fields <= sig_fields)


def _path_of(st: object) -> list[asn1_x509.Certificate]:
    path = getattr(st, "validation_path", None)
    if path is None:
        return []
    return [c for c in path.iter_certs(include_root=False)]


def _rfc4514(cert: asn1_x509.Certificate, which: str) -> str:
    """``CN=…,O=…,C=ID`` as RFC 4514 (and openssl, and the e-sign API) write a DN."""
    parsed = x509.load_der_x509_certificate(cert.dump())
    name = parsed.subject if which == "subject" else parsed.issuer
    return name.rfc4514_string()


def _cn(cert: asn1_x509.Certificate | None) -> str | None:
    return None if cert is None else cert.subject.native.get("common_name")


def _with_problem(r: SignatureReport, problem: str) -> SignatureReport:
    return replace(r, valid=False, problems=[*r.problems, problem])


def _doc_timestamp_problem(
    revinfo: RevocationSource, clock: Clock, ev: verify_status.Evidence, ts: EmbeddedPdfSignature
) -> str | None:
    """A document timestamp (B-LTA) is judged like a signature timestamp: at its own time."""
    try:
        st = validate_pdf_timestamp(ts, ev.context(_gen_time(ts.signed_data)))
    except (SignatureValidationError, *_READ_FAULTS):
        return "a document timestamp does not verify"
    chain = verify_status.path_report(
        revinfo, clock, st.validation_path, st.signing_cert, "tsa", st.timestamp, ev
    )
    problems = _timestamp_problems(ev, st, chain, "a document timestamp")
    return "; ".join(problems) if problems else None


@dataclass
class _DssRevinfo:
    """What the document's DSS holds: its certificates, OCSP responses and CRLs, and which
    certificates those cover."""

    certs: list[asn1_x509.Certificate] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    #: (hash algorithm, issuer name hash hex, serial) of every OCSP response's CertID
    ocsp_ids: set[tuple[str, str, int]] = field(default_factory=set)
    crl_issuers: set[bytes] = field(default_factory=set)

    def _has_ocsp(self, cert: asn1_x509.Certificate) -> bool:
        issuer = cert.issuer.dump()
        return any(
            serial == cert.serial_number and hashlib.new(alg, issuer).hexdigest() == name_hash
            for alg, name_hash, serial in self.ocsp_ids
        )

    def covers(self, certs: list[asn1_x509.Certificate]) -> bool:
        if not certs:
            return False
        for cert in certs:
            if cert.self_signed != "no":
                continue
            if not self._has_ocsp(cert) and cert.issuer.dump() not in self.crl_issuers:
                return False
        return True


def _dss_revinfo(reader: PdfFileReader) -> _DssRevinfo | None:
    if "/DSS" not in reader.root:
        return None
    out = _DssRevinfo()
    try:
        dss = reader.root["/DSS"]
        for ref in dss.get("/Certs", ()):
            out.certs.append(asn1_x509.Certificate.load(ref.get_object().data))
        for ref in dss.get("/OCSPs", ()):
            resp = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
            basic = resp["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                cid = single["cert_id"]
                out.ocsp_ids.add(
                    (
                        cid["hash_algorithm"]["algorithm"].native,
                        cid["issuer_name_hash"].native.hex(),
                        cid["serial_number"].native,
                    )
                )
            out.ocsps.append(resp)
        for ref in dss.get("/CRLs", ()):
            crl = asn1_crl.CertificateList.load(ref.get_object().data)
            crl.issuer.dump()  # parses it now: a broken CRL is no validation data
            out.crls.append(crl)
            out.crl_issuers.add(crl.issuer.dump())
    except (ValueError, KeyError, TypeError, AttributeError):
        return _DssRevinfo()
    return out


def _broken(field: str, reason: str) -> SignatureReport:
    return SignatureReport(
        field_name=field,
        signer_name="",
        agency=None,
        nik=None,
        signing_time=None,
        timestamp_time=None,
        certificate_serial="",
        certificate_status="unknown",
        intact=False,
        modified_after_signing=False,
        trusted=False,
        valid=False,
        level="B-B",
        problems=[f"the signature could not be read: {reason}"],
    )
