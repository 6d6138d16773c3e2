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


def _validity(cert: asn1_x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    return f"{cert.not_valid_before.isoformat()} - {cert.not_valid_after.isoformat()}"


# --- v1 ------------------------------------------------------------------------------------

_NOTES = {
    "VALID": "Dokumen valid, sertifikat yang digunakan terpercaya",
    "INVALID": "Dokumen tidak valid atau telah diubah setelah ditandatangani",
    "NO_SIGNATURE": "Dokumen tidak memiliki tanda tangan elektronik",
}


def v1_report(
    filename: str, report: PdfReport, sig_details: dict[str, SigDetails]
) -> dict[str, Any]:
    details = _loaded(sig_details)
    return {
        "nama_dokumen": filename,
        "jumlah_signature": len(report.signatures),
        "notes": _NOTES[report.summary],
        "summary": report.summary,
        "details": [_v1_signature(r, details.get(r.field_name)) for r in report.signatures],
    }


def _v1_signature(r: SignatureReport, d: _SigDetails | None) -> dict[str, Any]:
    validity = None
    if r.cert_not_before and r.cert_not_after:
        validity = f"{r.cert_not_before.isoformat()} - {r.cert_not_after.isoformat()}"
    return {
        "signature_field": r.field_name,
        "info_signer": {
            "signer_dn": r.signer_dn,
            "issuer_dn": r.issuer_dn,
            "signer_name": r.signer_name,
            "signer_cert_validity": validity,
            "cert_user_certified": r.trusted and r.certificate_status == "good",
            "certificate_status": r.certificate_status,
        },
        "info_tsa": {
            "name": r.tsa_name,
            "tsa_cert_validity": _validity(d.tsa) if d else None,
        },
        "signature_document": {
            "signed_using_tsa": r.timestamp_time is not None,
            "signed_in": _iso(r.timestamp_time or r.signing_time),
            "reason": r.reason,
            "location": r.location,
            "hash_value": r.document_digest,
            "document_integrity": r.intact and not r.modified_after_signing,
            "signature_value": d.signature_value if d else None,
        },
        "problems": r.problems,
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
        "certLevelCode": r.certificate_status.upper(),
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
