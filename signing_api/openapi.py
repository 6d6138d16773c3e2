"""The OpenAPI 3.1 document of the e-sign API, maintained by hand next to the endpoints (a test
checks that every registered /api route is described here).

Choices where the upstream reference (bsre-esign-api.md) is silent are stated in the
descriptions: coordinates in PDF points, the status codes 1112/2021/4010/..., the seal flow,
the ``level`` extension.
"""

from __future__ import annotations

from typing import Any

from ca_core import __version__
from signing_api.esign_errors import CODES

_ERROR = {"$ref": "#/components/schemas/Error"}
_PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


_S = {"type": "string"}
_I = {"type": "integer"}
_B = {"type": "boolean"}
_N = {"type": "number"}


def _errors(*codes: int) -> dict[str, Any]:
    by_status: dict[str, list[int]] = {}
    for code in (4010, *codes):
        by_status.setdefault(str(CODES[code][0]), []).append(code)
    return {
        status: {
            "description": "; ".join(f"{c}: {CODES[c][1]}" for c in cs),
            "content": _json(_ERROR),
        }
        for status, cs in by_status.items()
    }


def _op(summary: str, responses: dict[str, Any], *codes: int, body: Any = None, **kw: Any) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **_errors(*codes)}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    op.update(kw)
    return op


_STAMP_V1 = {
    "tampilan": {**_S, "enum": ["visible", "invisible"], "default": "invisible"},
    "image": {
        **_S,
        "enum": ["true", "false"],
        "description": "true: stamp the imageTTD specimen; false: a QR code of linkQR",
    },
    "imageTTD": {"type": "string", "format": "binary"},
    "linkQR": _S,
    "page": {**_S, "description": "1-based page number"},
    "halaman": {**_S, "enum": ["PERTAMA", "TERAKHIR"]},
    "xAxis": {**_N, "description": "PDF points (1/72 in) from the page's lower-left corner"},
    "yAxis": _N,
    "width": _N,
    "height": _N,
    "tag_koordinat": {**_S, "description": "one character; the stamp goes where it appears"},
    "reason": _S,
    "location": _S,
    "pdfPassword": {**_S, "description": "opens an encrypted PDF; never stored or logged"},
    "level": {
        **_S,
        "enum": ["B-B", "B-T", "B-LT", "B-LTA"],
        "description": "psre extension: PAdES baseline level (default: client app's, then "
        "signing.default_level = B-LT)",
    },
}

_PROPS_V2 = _obj(
    {
        "tampilan": {**_S, "enum": ["VISIBLE", "INVISIBLE"]},
        "imageBase64": _S,
        "linkQR": _S,
        "tag_koordinat": _S,
        "page": _S,
        "halaman": _S,
        "originX": _N,
        "originY": _N,
        "width": _N,
        "height": _N,
        "location": _S,
        "reason": _S,
        "pdfPassword": _S,
        "level": _STAMP_V1["level"],
    }
)

_SIGN_V2 = _obj(
    {
        "nik": _S,
        "email": _S,
        "passphrase": _S,
        "totp": {**_S, "description": "from /api/v2/sign/get/totp, for exactly this many files"},
        "signatureProperties": {
            "type": "array",
            "items": _PROPS_V2,
            "description": "one entry for all files, or one per file",
        },
        "file": {"type": "array", "items": {**_S, "description": "base64 PDF"}},
    },
    ["file"],
)
_SIGNED_V2 = _json(
    _obj({"time": {**_I, "description": "ms"}, "file": {"type": "array", "items": _S}})
)
_SEAL_ANSWER = _json(
    _obj(
        {
            "message": _S,
            "totp": {**_S, "description": "activation token or one-time code; null on revoke"},
            "expires": {**_S, "format": "date-time"},
            "result": _B,
        }
    )
)
_STATUS = _json(
    _obj(
        {
            "status_code": {**_I, "description": "1111 ISSUE, 1110 NOT_REGISTERED, 1112 other"},
            "status": {
                **_S,
                "enum": [
                    "ISSUE",
                    "EXPIRED",
                    "RENEW",
                    "NEW",
                    "NO_CERTIFICATE",
                    "NOT_REGISTERED",
                    "SUSPEND",
                    "REVOKE",
                ],
            },
            "message": _S,
        }
    )
)

_NULLABLE_S = {"type": ["string", "null"]}
_BSRE_TIME = {
    "type": "string",
    "description": "`YYYY-MM-DD hh:mm:ss.cc` (UTC), as BSrE writes it",
}
_VALIDITY = {
    "type": "string",
    "description": "`<notBefore> to <notAfter>` in the same format; `null to null` if absent",
}
_CHAIN = {
    "type": "array",
    "description": "psre extension: the signer's path, leaf first (root left out)",
    "items": _obj(
        {
            "role": {**_S, "enum": ["signer", "signer-ca"]},
            "name": _S,
            "serial": _S,
            "status": {
                **_S,
                "enum": ["good", "revoked", "hold", "expired", "not_yet_valid", "unknown"],
                "description": "at the time that counts: the trusted timestamp's, else now",
            },
            "status_now": {**_S, "enum": ["good", "revoked", "hold", "expired", "unknown"]},
            "revocation_reason": _NULLABLE_S,
        },
        ["role", "name", "serial", "status", "status_now", "revocation_reason"],
    ),
}
_V1_SIGNATURE = _obj(
    {
        "signature_field": _S,
        "info_signer": _obj(
            {
                "signer_dn": _S,
                "issuer_dn": _S,
                "signer_name": _S,
                "signer_cert_validity": _VALIDITY,
                "cert_user_certified": {
                    **_B,
                    "description": "trusted, and every certificate on its path good now",
                },
                "certificate_status": {
                    **_S,
                    "enum": ["good", "revoked", "hold", "expired", "unknown"],
                    "description": "psre extension: the signer's certificate now",
                },
            },
            [
                "signer_dn",
                "issuer_dn",
                "signer_name",
                "signer_cert_validity",
                "cert_user_certified",
            ],
        ),
        "info_tsa": _obj(
            {"name": _NULLABLE_S, "tsa_cert_validity": _VALIDITY},
            ["name", "tsa_cert_validity"],
        ),
        "signature_document": _obj(
            {
                "signed_using_tsa": _B,
                "signed_in": {**_BSRE_TIME, "type": ["string", "null"]},
                "reason": _NULLABLE_S,
                "location": _NULLABLE_S,
                "hash_value": {**_S, "description": "hex digest of the signed byte ranges"},
                "document_integrity": _B,
                "signature_value": {**_NULLABLE_S, "description": "hex"},
            },
            [
                "signed_using_tsa",
                "signed_in",
                "reason",
                "location",
                "hash_value",
                "document_integrity",
                "signature_value",
            ],
        ),
        "valid": {**_B, "description": "psre extension: this signature's verdict"},
        "level": {**_S, "enum": ["B-B", "B-T", "B-LT", "B-LTA"], "description": "psre extension"},
        "problems": {"type": "array", "items": _S, "description": "psre extension: why not valid"},
        "chain": _CHAIN,
    },
    ["signature_field", "info_signer", "info_tsa", "signature_document"],
)
_V1_VERIFY = _json(
    _obj(
        {
            "nama_dokumen": _S,
            "jumlah_signature": _I,
            "summary": {
                "type": ["string", "null"],
                "enum": ["DOCUMENT VALID !!!", "DOCUMENT NOT VALID !!!", None],
                "description": "BSrE's strings; null for a PDF without signatures",
            },
            "notes": {
                **_NULLABLE_S,
                "description": "BSrE's note (Indonesian); null for a PDF without signatures",
            },
            "details": {"type": "array", "items": _V1_SIGNATURE},
            "verdict": {
                **_S,
                "enum": ["VALID", "INVALID", "NO_SIGNATURE"],
                "description": "psre extension: the verdict as the v2 `conclusion` says it",
            },
        },
        ["nama_dokumen", "jumlah_signature", "summary", "notes", "details"],
    )
)
_ID_DOKUMEN = {
    "id_dokumen": {
        "description": "the document's id, for one GET /api/sign/download/{id_dokumen}",
        "schema": _S,
    }
}

_HASHES = {
    "type": "array",
    "items": {**_S, "pattern": "^[0-9a-fA-F]{64}$"},
    "description": "psre extension: the SHA-256 of each document; the code then signs exactly "
    "those documents (and data defaults to their number)",
}

_WRONG = (2011, 2021, 2031, 4014, 4015, 4131, 4290, 5030, 5032)


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/sign/pdf": {
            "post": _op(
                "Sign one PDF (v1). 200: the signed PDF, header id_dokumen (one download).",
                {"200": {"description": "signed PDF", "content": _PDF, "headers": _ID_DOKUMEN}},
                *_WRONG,
                4130,
                body={
                    "multipart/form-data": {
                        "schema": _obj(
                            {
                                "file": {"type": "string", "format": "binary"},
                                "nik": {**_S, "maxLength": 16},
                                "passphrase": _S,
                                **_STAMP_V1,
                            },
                            ["file", "nik", "passphrase"],
                        )
                    }
                },
            )
        },
        "/api/sign/download/{id_dokumen}": {
            "get": _op(
                "The signed PDF of a v1 request, once; then 404 with 4044.",
                {"200": {"description": "signed PDF", "content": _PDF, "headers": _ID_DOKUMEN}},
                4040,
                4044,
                parameters=[{"name": "id_dokumen", "in": "path", "required": True, "schema": _S}],
            )
        },
        "/api/sign/verify": {
            "post": _op(
                "Verify the signatures of a PDF (v1 answer shape).",
                {"200": {"description": "BSrE's v1 verification answer", "content": _V1_VERIFY}},
                4014,
                4015,
                4130,
                4131,
                4291,
                5032,
                body={
                    "multipart/form-data": {
                        "schema": _obj({"signed_file": {"type": "string", "format": "binary"}})
                    }
                },
            )
        },
        "/api/user/status/{nik}": {
            "get": _op(
                "Signer status (v1).",
                {"200": {"description": "status", "content": _STATUS}},
                4015,
                parameters=[{"name": "nik", "in": "path", "required": True, "schema": _S}],
            )
        },
        "/api/v2/sign/pdf": {
            "post": _op(
                "Sign one or many PDFs (bulk) with a passphrase or a one-time TOTP.",
                {"200": {"description": "signed files, request order", "content": _SIGNED_V2}},
                *_WRONG,
                4130,
                body=_json(_SIGN_V2),
            )
        },
        "/api/v2/sign/get/totp": {
            "post": _op(
                "Send the signer a one-time TOTP for `data` files (outbox notifier), valid "
                "signing.totp_seconds, usable once by this client app; a newer one voids it.",
                {"200": {"description": "sent (the code is never in the answer)"}},
                2011,
                2021,
                4014,
                4015,
                body=_json(_obj({"nik": _S, "email": _S, "data": _I, "hashes": _HASHES})),
            )
        },
        "/api/v2/user/check/status": {
            "post": _op(
                "Signer status (v2).",
                {"200": {"description": "status", "content": _STATUS}},
                4014,
                4015,
                body=_json(_obj({"nik": _S, "email": _S})),
            )
        },
        "/api/v2/user/registration": {
            "post": _op(
                "Register a civil servant (status NEW until an RA operator issues the "
                "certificate). instansi defaults to the client app's name.",
                {"201": {"description": "registration record"}},
                4014,
                4015,
                4024,
                body=_json(
                    _obj(
                        {"nik": _S, "nama": _S, "email": _S, "instansi": _S, "passphrase": _S},
                        ["nik", "nama", "email"],
                    )
                ),
            )
        },
        "/api/v2/verify/pdf": {
            "post": _op(
                "Verify the signatures of a PDF (v2 answer shape; upstream spellings kept).",
                {"200": {"description": "conclusion, signatureCount, signatureInformations[]"}},
                4014,
                4015,
                4130,
                4131,
                4291,
                5032,
                body=_json(_obj({"file": _S, "password": _S}, ["file"])),
            )
        },
        "/api/v2/seal/get/activation": {
            "post": _op(
                "Activate sealing with an agency's key for this client app: {idSubscriber, "
                "passphrase}, or refresh with {idSubscriber, totp: <current activation>}. The "
                "new activation token is returned in `totp` (valid signing.seal_activation_days).",
                {"200": {"description": "activation", "content": _SEAL_ANSWER}},
                2011,
                2021,
                2031,
                4014,
                body=_json(
                    _obj({"idSubscriber": _S, "passphrase": _S, "totp": _S}, ["idSubscriber"])
                ),
            )
        },
        "/api/v2/seal/get/totp": {
            "post": _op(
                "A one-time seal code for `data` files, returned in `totp`; needs a live "
                "activation token in `activation`.",
                {"200": {"description": "code", "content": _SEAL_ANSWER}},
                2011,
                2021,
                2031,
                4014,
                4015,
                body=_json(
                    _obj(
                        {"idSubscriber": _S, "activation": _S, "data": _I, "hashes": _HASHES},
                        ["idSubscriber", "activation"],
                    )
                ),
            )
        },
        "/api/v2/seal/revoke/activation": {
            "post": _op(
                "Revoke this client app's seal activations for the agency (only `activation`'s "
                "if given); their unused codes stop working.",
                {"200": {"description": "revoked", "content": _SEAL_ANSWER}},
                2011,
                4014,
                body=_json(_obj({"idSubscriber": _S, "activation": _S}, ["idSubscriber"])),
            )
        },
        "/api/v2/seal/pdf": {
            "post": _op(
                "Seal PDFs with the agency's key (legal-person-seal certificate).",
                {"200": {"description": "sealed files", "content": _SIGNED_V2}},
                *_WRONG,
                4130,
                body=_json(
                    _obj(
                        {
                            "idSubscriber": _S,
                            "totp": _S,
                            "signatureProperties": _SIGN_V2["properties"]["signatureProperties"],
                            "file": _SIGN_V2["properties"]["file"],
                        },
                        ["idSubscriber", "totp", "file"],
                    )
                ),
            )
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document (no credentials needed).",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "psre e-sign API (BSrE-compatible v1 + v2)",
            "version": __version__,
            "description": "Client apps authenticate with HTTP Basic credentials from "
            "`psre client add`. Signers activate each request with their passphrase or a "
            "one-time TOTP; signing.max_failures consecutive failures lock the signer for "
            "signing.lockout_minutes (2031 with locked=true, HTTP 423). Errors: "
            "{status_code, error} with a 4xx/5xx status.",
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Error": _obj(
                    {
                        "status_code": {**_I, "enum": sorted(CODES)},
                        "error": _S,
                        "locked": _B,
                        "locked_until": {**_S, "format": "date-time"},
                        "retry_after": _I,
                        "attempts_left": _I,
                    },
                    ["status_code", "error"],
                )
            },
            "x-error-codes": {str(c): {"http": s, "meaning": m} for c, (s, m) in CODES.items()},
        },
        "security": [{"basic": []}],
        "paths": paths,
    }
