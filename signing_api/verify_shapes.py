"""The verification answers of the e-sign API (v1 and v2 shapes) from ``verify_pdf``'s report,
plus the little the report does not carry (each signature's certificates, TSA certificate and
signature value), read from the signature dictionaries by the same PDF worker.

Field names are the upstream ones, misspellings included (``timestampInfomation``,
``signatureAlgoritm``): clients parse them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509

from signing_api.verify import PdfReport, SigDetails, SignatureReport
from signing_api.verify_status import PathCertificate


@dataclass(frozen=True)
class _SigDetails:
    chain: list[asn1_x509.Certificate]
    tsa: asn1_x509.Certificate | None
    signature_value: str


def _loaded(details: dict[str, SigDetails]) -> dict[str, _SigDetails]:
    """The certificates a PDF worker read from each signature, parsed (DER from the child)."""
    out = {}
    for name, d in details.items():
        try:
            out[name] = _SigDetails(
                chain=[asn1_x509.Certificate.load(c) for c in d.chain],
                tsa=asn1_x509.Certificate.load(d.tsa) if d.tsa is not None else None,
                signature_value=d.signature_value,
            )
        except ValueError:
            continue
    return out


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


# --- v1 ---------------------------------------------------------------------------------------
#
# BSrE's own strings, as the samples published with its client libraries show them: client apps
# compare ``summary`` (and some show ``notes``). A PDF without signatures answers 200 with
# ``summary``/``notes`` null and ``details`` []. Where the samples show no string (a document not
# valid for another reason than a changed content) the note is ours. psre's own verdict is in
# the extra fields ``verdict`` (VALID|INVALID|NO_SIGNATURE) and, per signature, ``valid``,
# ``level``, ``problems``, ``chain`` and ``info_signer.certificate_status``.

SUMMARY_VALID = "DOCUMENT VALID !!!"
SUMMARY_NOT_VALID = "DOCUMENT NOT VALID !!!"
#: Valid, every signature with a trusted timestamp.
NOTE_VALID = "Tanda tangan elektronik valid dan dokumen merupakan dokumen asli sejak ditandatangani"
#: Valid, but a signature without a trusted timestamp (its time is only the signer's claim).
NOTE_VALID_NO_TSA = "Dokumen asli dan valid, tetapi dokumen tidak menggunakan waktu TSA"
#: Not valid: the signed content was changed.
NOTE_CHANGED = "Konten Dokumen mengalami perubahan oleh pihak yang tidak berhak"
#: Not valid otherwise (certificate revoked, untrusted, ...): ours, the samples show none.
NOTE_NOT_TRUSTED = (
    "Sertifikat elektronik penanda tangan tidak valid atau tidak terpercaya pada waktu "
    "penandatanganan"
)


def _bsre_time(t: dt.datetime | None) -> str:
    """``2018-10-17 10:07:06.00`` as in BSrE's answers (UTC here); ``null`` when absent,
    as its ``tsa_cert_validity`` of an untimestamped signature reads ``null to null``."""
    if t is None:
        return "null"
    return f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 10000:02d}"


def _bsre_validity(not_before: dt.datetime | None, not_after: dt.datetime | None) -> str:
    return f"{_bsre_time(not_before)} to {_bsre_time(not_after)}"


def _v1_notes(report: PdfReport) -> str | None:
    if report.summary == "NO_SIGNATURE":
        return None
    if report.summary == "VALID":
        if all(r.timestamp_trusted for r in report.signatures):
            return NOTE_VALID
        return NOTE_VALID_NO_TSA
    if any(not r.intact or r.modified_after_signing for r in report.signatures):
        return NOTE_CHANGED
    return NOTE_NOT_TRUSTED


def v1_report(
    filename: str, report: PdfReport, sig_details: dict[str, SigDetails]
) -> dict[str, Any]:
    details = _loaded(sig_details)
    summary = {"VALID": SUMMARY_VALID, "INVALID": SUMMARY_NOT_VALID}.get(report.summary)
    return {
        "nama_dokumen": filename,
        "jumlah_signature": len(report.signatures),
        "notes": _v1_notes(report),
        "summary": summary,
        "details": [_v1_signature(r, details.get(r.field_name)) for r in report.signatures],
        "verdict": report.summary,
    }


def path_status(r: SignatureReport) -> str:
    """The first status other than good on the signer's path now (leaf first), else good: a
    certificate under a revoked CA is not good either."""
    statuses = [c.status_now for c in r.chain] or [r.certificate_status]
    return next((s for s in statuses if s != "good"), "good")


def _v1_signature(r: SignatureReport, d: _SigDetails | None) -> dict[str, Any]:
    ts = r.timestamp_time is not None
    return {
        "signature_field": r.field_name,
        "info_signer": {
            "signer_dn": r.signer_dn,
            "issuer_dn": r.issuer_dn,
            "signer_name": r.signer_name,
            "signer_cert_validity": _bsre_validity(r.cert_not_before, r.cert_not_after),
            "cert_user_certified": r.trusted and path_status(r) == "good",
            "certificate_status": r.certificate_status,
        },
        "info_tsa": {
            "name": r.tsa_name,
            "tsa_cert_validity": _bsre_validity(
                d.tsa.not_valid_before if d and d.tsa else None,
                d.tsa.not_valid_after if d and d.tsa else None,
            ),
        },
        "signature_document": {
            "signed_using_tsa": ts,
            "signed_in": _signed_in(r),
            "reason": r.reason,
            "location": r.location,
            "hash_value": r.document_digest,
            "document_integrity": r.intact and not r.modified_after_signing,
            "signature_value": d.signature_value if d else None,
        },
        "valid": r.valid,
        "level": r.level,
        "problems": r.problems,
        "chain": [_chain_entry(c) for c in r.chain],
        "psre": r.psre,
    }


def _signed_in(r: SignatureReport) -> str | None:
    t = r.timestamp_time or r.signing_time
    return _bsre_time(t) if t is not None else None


def _chain_entry(c: PathCertificate) -> dict[str, Any]:
    return {
        "role": c.role,
        "name": c.name,
        "serial": c.serial,
        "status": c.status,
        "status_now": c.status_now,
        "revocation_reason": c.revocation_reason,
    }


# --- v2 ------------------------------------------------------------------------------------

_DESCRIPTIONS = {
    "VALID": "Semua tanda tangan valid (all signatures valid)",
    "INVALID": "Ada tanda tangan yang tidak valid (at least one signature is not valid)",
    "NO_SIGNATURE": "Dokumen tidak memiliki tanda tangan (no signature)",
}


def v2_report(report: PdfReport, sig_details: dict[str, SigDetails]) -> dict[str, Any]:
    details = _loaded(sig_details)
    sigs = report.signatures
    return {
        "conclusion": report.summary,
        "description": _DESCRIPTIONS[report.summary],
        "signatureCount": len(sigs),
        "signatureInformations": [
            _v2_signature(i, r, details.get(r.field_name), last=i == len(sigs))
            for i, r in enumerate(sigs, start=1)
        ],
    }


def _v2_signature(i: int, r: SignatureReport, d: _SigDetails | None, *, last: bool) -> dict:
    timestamp = None
    if r.timestamp_time is not None:
        timestamp = {"id": i, "signerName": r.tsa_name, "timestampDate": _iso(r.timestamp_time)}
    return {
        "id": i,
        "signatureFormat": f"PAdES-BASELINE-{r.level.removeprefix('B-')}",
        "signerName": r.signer_name,
        "signatureDate": _iso(r.signing_time),
        "fieldName": r.field_name,
        "reason": r.reason,
        "location": r.location,
        "certLevelCode": path_status(r).upper(),
        "timestampInfomation": timestamp,
        "certificateDetails": [_v2_cert(j, c) for j, c in enumerate(d.chain if d else [], 1)],
        "integrityValid": r.intact and not r.modified_after_signing,
        "certificateTrusted": r.trusted,
        "lastSignature": last,
        "ltv": r.ltv,
        "valid": r.valid,
        "problems": r.problems,
    }


def _v2_cert(j: int, c: asn1_x509.Certificate) -> dict[str, Any]:
    ku = c.key_usage_value
    return {
        "id": j,
        "commonName": c.subject.native.get("common_name"),
        "issuerName": c.issuer.native.get("common_name"),
        "serialNumber": format(c.serial_number, "x"),
        "notBeforeDate": c.not_valid_before.isoformat(),
        "notAfterDate": c.not_valid_after.isoformat(),
        "signatureAlgoritm": c["signature_algorithm"]["algorithm"].native,
        "keyUsages": sorted(ku.native) if ku is not None else [],
    }
