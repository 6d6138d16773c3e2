"""Verify the signatures of a PDF against this PSrE's own hierarchy (pyHanko's validator).

Trust anchors are our root CAs, intermediates our other CAs; nothing is fetched from the network.
A certificate's status comes from our own database (the same source OCSP and CRLs are made
from), looked up by the signing certificate's fingerprint, so a certificate we did not issue is
``unknown`` and never ``good``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from ca_core.errors import CaError

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


@dataclass(frozen=True)
class PdfReport:
    summary: str  # VALID|INVALID|NO_SIGNATURE
    signatures: list[SignatureReport]


class NotAPdfError(CaError):
    code = "not_a_pdf"


def verify_pdf(rt: Runtime, data: bytes) -> PdfReport:
    """Validate every signature in ``data``; raises NotAPdfError if it cannot be read as PDF."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_regular_signatures)
        doc_timestamps = list(reader.embedded_timestamp_signatures)
    except (PdfReadError, ValueError, KeyError, TypeError) as ex:
        raise NotAPdfError("the file is not a readable PDF") from ex
    if not embedded:
        return PdfReport("NO_SIGNATURE", [])
    context_args = _trust(rt)
    has_dss = "/DSS" in reader.root
    reports = []
    for sig in embedded:
        vc = ValidationContext(**context_args)
        try:
            status = validate_pdf_signature(sig, vc)
        except (SignatureValidationError, ValueError, KeyError) as ex:
            reports.append(_broken(sig.field_name, str(ex)))
            continue
        reports.append(_report(rt, sig.field_name, status, has_dss, bool(doc_timestamps)))
    summary = "VALID" if all(r.valid for r in reports) else "INVALID"
    return PdfReport(summary, reports)


def _trust(rt: Runtime) -> dict[str, object]:
    roots, others = [], []
    for ca in rt.store.list_cas():
        if ca.certificate_der is None:
            continue
        cert = asn1_x509.Certificate.load(ca.certificate_der)
        (roots if ca.parent_id is None else others).append(cert)
    # Soft-fail: revocation is judged from our database below, not fetched by the validator.
    return {
        "trust_roots": roots,
        "other_certs": others,
        "allow_fetching": False,
        "revocation_mode": "soft-fail",
    }


def _report(
    rt: Runtime, field: str, st: PdfSignatureStatus, has_dss: bool, has_doc_ts: bool
) -> SignatureReport:
    cert = st.signing_cert
    subject = cert.subject.native
    serial = format(cert.serial_number, "x")
    cert_status = _cert_status(rt, cert)
    coverage = st.coverage.name if st.coverage is not None else "UNKNOWN"
    modified = coverage != "ENTIRE_FILE" and not (
        st.modification_level is not None and st.modification_level.name in ("NONE", "LTA_UPDATES")
    )
    problems: list[str] = []
    if not st.intact:
        problems.append("the signed bytes were changed (digest mismatch)")
    elif not st.valid:
        problems.append("the cryptographic signature does not verify")
    if not st.trusted:
        problems.append("the signer's certificate does not chain to this PSrE's root")
    if modified:
        problems.append("the document was changed after it was signed")
    if cert_status != "good":
        problems.append(f"the signer's certificate is {cert_status}")
    ts = st.timestamp_validity
    if ts is not None and not (ts.intact and ts.valid):
        problems.append("the signature timestamp does not verify")
    level = "B-B"
    if ts is not None:
        level = "B-T"
        if has_dss:
            level = "B-LTA" if has_doc_ts else "B-LT"
    nik = subject.get("serial_number")
    valid = st.bottom_line and not problems
    return SignatureReport(
        field_name=field,
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
    )


def _cert_status(rt: Runtime, cert: asn1_x509.Certificate) -> str:
    fingerprint = hashlib.sha256(cert.dump()).hexdigest()
    try:
        stored = rt.store.find_certificate(cert.serial_number)
    except CaError:
        return "unknown"
    if stored.fingerprint_sha256 != fingerprint:
        return "unknown"  # same serial, another certificate: not ours
    if stored.status != "good":
        return stored.status
    if stored.not_after < dt.datetime.now(dt.UTC):
        return "expired"
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
