"""Verify the signatures of a PDF against this PSrE's own hierarchy (pyHanko's validator).

Trust anchors are our root CAs, intermediates our other CAs; nothing is fetched from the network.
A certificate's status comes from our own database (the same source OCSP and CRLs are made
from), looked up by the signing certificate's fingerprint, so a certificate we did not issue is
``unknown`` and never ``good``.

Default-deny on changes after signing (checklist "PDF signature verification must reject"):
a signature is only valid if the bytes after its revision are nothing but later signatures,
document timestamps and validation data (DSS). Content changed in an incremental update, a
ByteRange that is not [0, hole, hole end, revision end] (signature wrapping), annotations added
afterwards, or changes beyond a certification signature's DocMDP permissions: not valid. A
missing, empty or zeroed /Contents or /ByteRange cannot be read as a signature: not valid.

Certificate status at signing time: with a trusted signature timestamp, the status at the
timestamp's time (a certificate revoked later leaves the signature valid — PAdES LTV); without
one, the signing time is only claimed, so the current status counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

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
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from ca_core.errors import CaError
from signing_api.pdf_pool import DocumentTooComplexError

if TYPE_CHECKING:
    from ca_core.runtime import Runtime

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
    #: The certificate's status when it signed (see the module docstring); CERT_STATUSES or
    #: ``not_yet_valid``.
    status_at_signing: str = "unknown"
    timestamp_trusted: bool = False
    tsa_name: str | None = None
    #: Every certificate on the signer's and the TSA's paths has revocation data in the DSS.
    ltv: bool = False


@dataclass(frozen=True)
class PdfReport:
    summary: str  # VALID|INVALID|NO_SIGNATURE
    signatures: list[SignatureReport]
    #: Document timestamps (B-LTA), all of which verify when ``summary`` is VALID.
    document_timestamps: int = 0


class NotAPdfError(CaError):
    code = "not_a_pdf"


@dataclass(frozen=True)
class CertRecord:
    """What verification needs of our record of a signing certificate."""

    status: str
    not_before: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None
    invalidity_date: dt.datetime | None


@dataclass(frozen=True)
class Trust:
    """Our CA certificates (DER): roots are the trust anchors, the others intermediates."""

    roots: tuple[bytes, ...]
    others: tuple[bytes, ...]


@dataclass(frozen=True)
class SigDetails:
    """What the e-sign API's answers show of a signature besides the report (DER)."""

    chain: tuple[bytes, ...]
    tsa: bytes | None
    signature_value: str


#: Certificates of a signature's CMS shown in the details (a CMS may carry any number).
MAX_DETAIL_CERTS = 10

#: ``lookup(serial, sha256 fingerprint hex)`` -> our record of exactly that certificate.
Lookup = Callable[[int, str], "CertRecord | None"]


def verify_pdf(
    rt: Runtime, data: bytes, password: str | None = None, deadline: float | None = None
) -> PdfReport:
    """Validate every signature in ``data``; raises NotAPdfError if it cannot be read as PDF.

    The document is read in a bounded child process (signing_api.pdf_pool, the ``[pdf]``
    budgets and ``deadline``): DocumentTooComplexError (4131) over them, including a document
    with more than ``pdf.max_signature_fields`` filled signature fields.
    """
    return verify_pdf_details(rt, data, password, deadline)[0]


def verify_pdf_details(
    rt: Runtime, data: bytes, password: str | None = None, deadline: float | None = None
) -> tuple[PdfReport, dict[str, SigDetails]]:
    """:func:`verify_pdf`, with each signature's certificates and signature value by field."""
    from signing_api import pdf_jobs
    from signing_api.pdf_pool import pool_for

    return pool_for(rt).run(
        pdf_jobs.verify_document,
        data,
        password,
        _trust(rt),
        rt.config.pdf.max_signature_fields,
        services={"certificate": lambda serial, fp: _stored(rt, serial, fp)},
        deadline=deadline,
    )


def analyse(
    data: bytes, password: str | None, trust: Trust, lookup: Lookup, max_fields: int
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
    except (PdfReadError, ValueError, KeyError, TypeError, AssertionError) as ex:
        raise NotAPdfError("the file is not a readable PDF") from ex
    if not embedded and not unreadable:
        return PdfReport("NO_SIGNATURE", [], len(doc_timestamps)), {}
    context_args = _context_args(trust)
    sig_fields = {s.field_name for s in (*embedded, *doc_timestamps)}
    dss = _dss_revinfo(reader)
    reports = list(unreadable)
    for sig in embedded:
        vc = ValidationContext(**context_args)
        try:
            status = validate_pdf_signature(sig, vc)
        except (
            SignatureValidationError,
            PdfReadError,
            ValueError,
            KeyError,
            TypeError,
            AssertionError,  # pyHanko's reader on an object stream that is none
        ) as ex:
            reports.append(_broken(sig.field_name, str(ex)))
            continue
        reports.append(_report(lookup, sig, status, sig_fields, dss, bool(doc_timestamps)))
    ts_ok = all(_doc_timestamp_ok(ts, context_args) for ts in doc_timestamps)
    if not ts_ok:
        reports = [_with_problem(r, "a document timestamp does not verify") for r in reports]
    summary = "VALID" if all(r.valid for r in reports) else "INVALID"
    details = {str(k): v for k, v in _details(embedded).items()}
    return PdfReport(summary, [_plain(r) for r in reports], len(doc_timestamps)), details


def _plain(r: SignatureReport) -> SignatureReport:
    """``r`` with pyHanko's string types (field names, /Reason) made plain ``str``: the report
    leaves the PDF worker, whose answers may hold only plain values."""
    changes: dict[str, object] = {}
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
        except Exception:  # noqa: BLE001, S112 - a broken signature is in the report already
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
    regular, stamps, unreadable = [], [], []
    seen: dict[bytes, str] = {}
    for n, (name, sig_obj, sig_field) in enumerate(
        enumerate_sig_fields(reader, filled_status=True), start=1
    ):
        if n > max_fields:
            raise DocumentTooComplexError(
                f"the document has more than {max_fields} filled signature fields"
            )
        try:
            value = sig_obj.get_object()
            sub = value.get("/SubFilter")
            if sub not in _SUBFILTERS:
                raise SignatureValidationError(f"unsupported /SubFilter {sub}")
            sig = EmbeddedPdfSignature(reader, sig_field, name)
            key = hashlib.sha256(sig.pkcs7_content).digest()
            if key in seen:
                raise SignatureValidationError(f"it is the signature of field {seen[key]}")
            seen[key] = name
            sig.signed_revision  # noqa: B018 - reads /ByteRange now
        except (
            SignatureValidationError,
            PdfReadError,
            ValueError,
            KeyError,
            TypeError,
            AssertionError,
        ) as ex:
            unreadable.append(_broken(name, str(ex)))
            continue
        (stamps if sig.sig_object_type == "/DocTimeStamp" else regular).append(sig)
    regular.sort(key=lambda s: s.signed_revision)
    return regular, stamps, unreadable


_SUBFILTERS = {f.value for f in SigSeedSubFilter}


def _trust(rt: Runtime) -> Trust:
    roots, others = [], []
    for ca in rt.store.list_cas():
        if ca.certificate_der is None:
            continue
        (roots if ca.parent_id is None else others).append(ca.certificate_der)
    return Trust(tuple(roots), tuple(others))


def _context_args(trust: Trust) -> dict[str, object]:
    # Soft-fail: revocation is judged from our database below, not fetched by the validator.
    return {
        "trust_roots": [asn1_x509.Certificate.load(c) for c in trust.roots],
        "other_certs": [asn1_x509.Certificate.load(c) for c in trust.others],
        "allow_fetching": False,
        "revocation_mode": "soft-fail",
    }


def _report(
    lookup: Lookup,
    sig: EmbeddedPdfSignature,
    st: PdfSignatureStatus,
    sig_fields: set[str],
    dss: _DssRevinfo | None,
    has_doc_ts: bool,
) -> SignatureReport:
    cert = st.signing_cert
    subject = cert.subject.native
    serial = format(cert.serial_number, "x")
    stored = lookup(cert.serial_number, hashlib.sha256(cert.dump()).hexdigest())
    cert_status = _cert_status(stored)
    coverage = st.coverage.name if st.coverage is not None else "UNKNOWN"
    modified = _modified(st, sig_fields)
    ts = st.timestamp_validity
    ts_trusted = ts is not None and bool(ts.intact and ts.valid and ts.trusted)
    at = ts.timestamp if ts_trusted and ts is not None else dt.datetime.now(dt.UTC)
    at_signing = _status_at(stored, at) if ts_trusted else cert_status
    problems: list[str] = []
    if not st.intact:
        problems.append("the signed bytes were changed (digest mismatch)")
    elif not st.valid:
        problems.append("the cryptographic signature does not verify")
    if not st.trusted:
        problems.append("the signer's certificate does not chain to this PSrE's root")
    if modified:
        problems.append("the document was changed after it was signed")
    if at_signing != "good":
        when = "when it was timestamped" if ts_trusted else "now"
        problems.append(f"the signer's certificate is {at_signing} ({when})")
    if ts is not None and not ts_trusted:
        problems.append("the signature timestamp does not verify")
    tsa_path = _path_of(ts) if ts is not None else []
    ltv = dss is not None and ts_trusted and dss.covers([*_path_of(st), *tsa_path])
    level = "B-B"
    if ts is not None:
        level = "B-T"
        if ltv:
            level = "B-LTA" if has_doc_ts else "B-LT"
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
    )


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


def _doc_timestamp_ok(ts: EmbeddedPdfSignature, context_args: dict[str, object]) -> bool:
    try:
        st = validate_pdf_timestamp(ts, ValidationContext(**context_args))
    except (SignatureValidationError, PdfReadError, ValueError, KeyError, TypeError):
        return False
    return bool(st.intact and st.valid and st.trusted)


class _DssRevinfo:
    """What the document's DSS holds: which certificates have an OCSP response or a CRL."""

    def __init__(self, ocsp_ids: set[tuple[str, str, int]], crl_issuers: set[bytes]) -> None:
        #: (hash algorithm, issuer name hash hex, serial) of every OCSP response's CertID
        self.ocsp_ids = ocsp_ids
        self.crl_issuers = crl_issuers

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
    try:
        dss = reader.root["/DSS"]
        ocsp_ids: set[tuple[str, str, int]] = set()
        for ref in dss.get("/OCSPs", ()):
            resp = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
            basic = resp["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                cid = single["cert_id"]
                ocsp_ids.add(
                    (
                        cid["hash_algorithm"]["algorithm"].native,
                        cid["issuer_name_hash"].native.hex(),
                        cid["serial_number"].native,
                    )
                )
        crl_issuers = set()
        for ref in dss.get("/CRLs", ()):
            crl = asn1_crl.CertificateList.load(ref.get_object().data)
            crl_issuers.add(crl.issuer.dump())
    except (ValueError, KeyError, TypeError, AttributeError):
        return _DssRevinfo(set(), set())
    return _DssRevinfo(ocsp_ids, crl_issuers)


def _stored(rt: Runtime, serial: int, fingerprint: str) -> CertRecord | None:
    """Our record of the certificate with ``serial`` and ``fingerprint`` (SHA-256 hex), or
    None if we did not issue exactly this certificate. Asked by a PDF worker: the values
    come from the document."""
    if not isinstance(serial, int) or not isinstance(fingerprint, str):
        return None
    try:
        stored = rt.store.find_certificate(serial)
    except CaError:
        return None
    if stored.fingerprint_sha256 != fingerprint:
        return None
    return CertRecord(
        stored.status, stored.not_before, stored.not_after, stored.revoked_at,
        stored.invalidity_date,
    )


def _cert_status(stored: CertRecord | None) -> str:
    if stored is None:
        return "unknown"  # same serial, another certificate: not ours
    if stored.status != "good":
        return stored.status
    if stored.not_after < dt.datetime.now(dt.UTC):
        return "expired"
    return "good"


def _status_at(stored: CertRecord | None, at: dt.datetime) -> str:
    """The status ``stored`` had at ``at``: revocations take effect from their invalidity date."""
    if stored is None:
        return "unknown"
    if at < stored.not_before:
        return "not_yet_valid"
    if at > stored.not_after:
        return "expired"
    if stored.status != "good" and stored.revoked_at is not None:
        since = min(d for d in (stored.revoked_at, stored.invalidity_date) if d is not None)
        if at >= since:
            return stored.status
    return "good"


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
