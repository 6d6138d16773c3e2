"""The verification answers of the e-sign API (v1 and v2 shapes) built from ``verify_pdf``'s
report plus what the signature dictionaries themselves say (reason, location, certificates).

Field names are the upstream ones, misspellings included (``timestampInfomation``,
``signatureAlgoritm``): clients parse them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader

from signing_api.verify import PdfReport, SignatureReport


@dataclass(frozen=True)
class _SigDetails:
    reason: str | None
    location: str | None
    signer: asn1_x509.Certificate | None
    chain: list[asn1_x509.Certificate]
    tsa: asn1_x509.Certificate | None
    signature_value: str
    digest_algorithm: str


def _text(obj: Any, key: str) -> str | None:
    try:
        value = obj.get(key)
    except (KeyError, ValueError, TypeError):
        return None
    return str(value) if value is not None else None


def _tsa_cert(signer_info: cms.SignerInfo) -> asn1_x509.Certificate | None:
    attrs = signer_info["unsigned_attrs"]
    if not attrs:
        return None
    for attr in attrs:
        if attr["type"].native != "signature_time_stamp_token":
            continue
        token = attr["values"][0]
        for choice in token["content"]["certificates"] or []:
            cert = choice.chosen
            eku = cert.extended_key_usage_value
            if isinstance(cert, asn1_x509.Certificate) and eku and "time_stamping" in eku.native:
                return cert
    return None


def _details(data: bytes) -> dict[str, _SigDetails]:
    """Per signature field: what the PDF itself states. Best effort: verify_pdf judges."""
    out: dict[str, _SigDetails] = {}
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = list(reader.embedded_regular_signatures)
    except Exception:  # noqa: BLE001 - verify_pdf already reported an unreadable file
        return out
    for sig in sigs:
        try:
            certs = [c.chosen for c in sig.signed_data["certificates"] or []]
            signer = sig.signer_cert
            out[sig.field_name] = _SigDetails(
                reason=_text(sig.sig_object, "/Reason"),
                location=_text(sig.sig_object, "/Location"),
                signer=signer,
                chain=[c for c in certs if isinstance(c, asn1_x509.Certificate)],
                tsa=_tsa_cert(sig.signer_info),
                signature_value=sig.signer_info["signature"].native.hex(),
                digest_algorithm=sig.md_algorithm,
            )
        except Exception:  # noqa: BLE001, S112 - a broken signature is reported by verify_pdf
            continue
    return out


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _validity(cert: asn1_x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    v = cert["tbs_certificate"]["validity"]
    return f"{v['not_before'].native.isoformat()} - {v['not_after'].native.isoformat()}"


def _cn(cert: asn1_x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    return cert.subject.native.get("common_name")


# --- v1 ------------------------------------------------------------------------------------


def v1_report(filename: str, data: bytes, report: PdfReport) -> dict[str, Any]:
    details = _details(data)
    notes = {
        "VALID": "Dokumen valid, sertifikat yang digunakan terpercaya",
        "INVALID": "Dokumen tidak valid atau telah diubah setelah ditandatangani",
        "NO_SIGNATURE": "Dokumen tidak memiliki tanda tangan elektronik",
    }[report.summary]
    return {
        "nama_dokumen": filename,
        "jumlah_signature": len(report.signatures),
        "notes": notes,
        "summary": report.summary,
        "details": [_v1_signature(r, details.get(r.field_name), data) for r in report.signatures],
    }


def _own(r: SignatureReport, name: str, fallback: Any) -> Any:
    """A field of the engine's report when it provides one, else what we read ourselves."""
    return getattr(r, name, None) or fallback


def _v1_signature(r: SignatureReport, d: _SigDetails | None, data: bytes) -> dict[str, Any]:
    signer = d.signer if d else None
    return {
        "signature_field": r.field_name,
        "info_signer": {
            "signer_dn": _own(r, "signer_dn", signer.subject.human_friendly if signer else None),
            "issuer_dn": _own(r, "issuer_dn", signer.issuer.human_friendly if signer else None),
            "signer_name": r.signer_name,
            "signer_cert_validity": _validity(signer),
            "cert_user_certified": r.trusted and r.certificate_status == "good",
            "certificate_status": r.certificate_status,
        },
        "info_tsa": {
            "name": _own(r, "tsa_name", _cn(d.tsa) if d else None),
            "tsa_cert_validity": _validity(d.tsa) if d else None,
        },
        "signature_document": {
            "signed_using_tsa": r.timestamp_time is not None,
            "signed_in": _iso(r.timestamp_time or r.signing_time),
            "reason": _own(r, "reason", d.reason if d else None),
            "location": _own(r, "location", d.location if d else None),
            "hash_value": hashlib.sha256(data).hexdigest(),
            "document_integrity": r.intact and not r.modified_after_signing,
            "signature_value": d.signature_value if d else None,
        },
        "problems": r.problems,
    }


# --- v2 ------------------------------------------------------------------------------------


def v2_report(data: bytes, report: PdfReport) -> dict[str, Any]:
    details = _details(data)
    descriptions = {
        "VALID": "Semua tanda tangan valid (all signatures valid)",
        "INVALID": "Ada tanda tangan yang tidak valid (at least one signature is not valid)",
        "NO_SIGNATURE": "Dokumen tidak memiliki tanda tangan (no signature)",
    }
    sigs = report.signatures
    return {
        "conclusion": report.summary,
        "description": descriptions[report.summary],
        "signatureCount": len(sigs),
        "signatureInformations": [
            _v2_signature(i, r, details.get(r.field_name), last=i == len(sigs))
            for i, r in enumerate(sigs, start=1)
        ],
    }


def _v2_signature(i: int, r: SignatureReport, d: _SigDetails | None, *, last: bool) -> dict:
    chain = d.chain if d else []
    return {
        "id": i,
        "signatureFormat": f"PAdES-BASELINE-{r.level.removeprefix('B-')}",
        "signerName": r.signer_name,
        "signatureDate": _iso(r.signing_time),
        "fieldName": r.field_name,
        "reason": _own(r, "reason", d.reason if d else None),
        "location": _own(r, "location", d.location if d else None),
        "certLevelCode": r.certificate_status.upper(),
        "timestampInfomation": (
            {
                "id": i,
                "signerName": _own(r, "tsa_name", _cn(d.tsa) if d else None),
                "timestampDate": _iso(r.timestamp_time),
            }
            if r.timestamp_time is not None
            else None
        ),
        "certificateDetails": [_v2_cert(j, c) for j, c in enumerate(chain, start=1)],
        "integrityValid": r.intact and not r.modified_after_signing,
        "certificateTrusted": r.trusted,
        "lastSignature": last,
        "ltv": bool(getattr(r, "ltv", r.level in ("B-LT", "B-LTA"))),
        "valid": r.valid,
        "problems": r.problems,
    }


def _v2_cert(j: int, c: asn1_x509.Certificate) -> dict[str, Any]:
    ku = c.key_usage_value
    return {
        "id": j,
        "commonName": _cn(c),
        "issuerName": c.issuer.native.get("common_name"),
        "serialNumber": format(c.serial_number, "x"),
        "notBeforeDate": c.not_valid_before.isoformat(),
        "notAfterDate": c.not_valid_after.isoformat(),
        "signatureAlgoritm": c["signature_algorithm"]["algorithm"].native,
        "keyUsages": sorted(ku.native) if ku is not None else [],
    }
