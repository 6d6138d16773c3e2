"""The OpenAPI 3.1 document of the e-sign API, next to the endpoints (a test checks that every
registered /api route is described here, and another sends requests generated from it).

What a request may carry comes from :mod:`signing_api.api_schema` — the same schemas gate the
requests — so the document cannot drift from the checks. Answers: each operation's success
schema, and one response per HTTP status it can answer with, whose ``status_code`` is one of the
codes :data:`signing_api.esign_errors.CODES` maps to that status. 401 carries
``WWW-Authenticate``; a method a path does not offer is 405 with ``Allow``.

Choices where the upstream reference (bsre-esign-api.md) is silent are stated in the
descriptions: coordinates in PDF points, the status codes 1112/2021/4010/..., the seal flow,
the ``level`` extension.
"""

from __future__ import annotations

from typing import Any

from ca_core import __version__
from ca_core.config import SigningConfig
from signing_api.api_schema import request_schemas
from signing_api.edge import MAX_JSON_DEPTH, MAX_JSON_TOKENS
from signing_api.esign_errors import CODES

_S = {"type": "string"}
_I = {"type": "integer"}
_B = {"type": "boolean"}
_PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}

#: Every operation can answer these: the edge refuses a field (4015: NUL, bad JSON …), the
#: client app is not authenticated, the body is too large, or the server cannot serve now.
_ALWAYS = (4010, 4015, 4130, 5000, 5030, 5031)
#: What refusing a signer's activation adds (2031 wrong secret; locked: 423).
_ACTIVATION = (2011, 2021, 2031)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def _error_schema(codes: list[int], *, locked: bool = False) -> dict[str, Any]:
    schema = _obj(
        {
            "status_code": {**_I, "enum": codes},
            "error": _S,
            "locked": _B,
            "locked_until": {"type": ["string", "null"], "format": "date-time"},
            "retry_after": _I,
            "attempts_left": _I,
            "user_status": _S,
        },
        ["status_code", "error"],
    )
    if locked:
        schema["required"] = ["status_code", "error", "locked"]
        schema["properties"]["locked"] = {"const": True}
    return schema


def _errors(*codes: int) -> dict[str, Any]:
    """One response per HTTP status the codes map to (CODES), each listing its codes."""
    by_status: dict[int, list[int]] = {}
    for code in sorted({*_ALWAYS, *codes}):
        by_status.setdefault(CODES[code][0], []).append(code)
    out: dict[str, Any] = {}
    for status, cs in sorted(by_status.items()):
        resp: dict[str, Any] = {
            "description": "; ".join(f"{c}: {CODES[c][1]}" for c in cs),
            "content": _json(_error_schema(cs)),
        }
        if status == 401:
            resp["headers"] = {
                "WWW-Authenticate": {
                    "required": True,
                    "schema": {**_S, "pattern": "^Basic "},
                    "description": 'Basic realm="psre e-sign API"',
                }
            }
        out[str(status)] = resp
    if 2031 in codes:
        out["423"] = {
            "description": "2031 with locked=true: the signer is locked out after "
            "signing.max_failures wrong secrets, until locked_until",
            "content": _json(_error_schema([2031], locked=True)),
        }
    return out


_STATUS = _json(
    _obj(
        {
            "status_code": {
                **_I,
                "enum": [1110, 1111, 1112],
                "description": "1111 ISSUE, 1110 NOT_REGISTERED, 1112 other (LOCKED included)",
            },
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
                    "LOCKED",
                ],
            },
            "message": _S,
            "locked_until": {
                **_S,
                "format": "date-time",
                "description": "LOCKED only: failed activations lock the signer (for every "
                "app) or this app (for this signer) until then",
            },
        },
        ["status_code", "status", "message"],
    )
)
_SIGNED = _json(
    _obj(
        {
            "time": {**_I, "description": "ms"},
            "file": {"type": "array", "items": {**_S, "contentEncoding": "base64"}},
        },
        ["time", "file"],
    )
)
_SEAL_ANSWER = _json(
    _obj(
        {
            "message": _S,
            "totp": {
                "type": ["string", "null"],
                "description": "activation token or one-time code; null on revoke",
            },
            "expires": {"type": ["string", "null"], "format": "date-time"},
            "result": {"const": True},
            "data": _I,
            "revoked": _I,
        },
        ["message", "totp", "expires", "result"],
    )
)
_TOTP_SENT = _json(
    _obj(
        {"message": _S, "expires": {**_S, "format": "date-time"}, "data": _I, "result": _B},
        ["message", "expires", "data", "result"],
    )
)
_REGISTERED = _json(
    _obj(
        {
            "status_code": {**_I, "const": 1112},
            "status": _S,
            "message": _S,
            "data": _obj({"nik": _S, "nama": _S, "email": _S, "instansi": _S}),
            "activation": _obj(
                {
                    "passphrase": {**_S, "description": "always 'ignored…' (sole control)"},
                    "enrolment_code_sent_to": _S,
                    "expires": {**_S, "format": "date-time"},
                }
            ),
        },
        ["status_code", "status", "message"],
    )
)
#: The v2 verification answer, described by its top-level fields.
_VERIFY_V2 = _json(
    _obj(
        {
            "conclusion": {"type": ["string", "null"]},
            "description": {"type": ["string", "null"]},
            "signatureCount": _I,
            "signatureInformations": {"type": "array", "items": {"type": "object"}},
        },
        ["conclusion", "signatureCount", "signatureInformations"],
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
        "psre": {
            **_NULLABLE_S,
            "description": "psre extension: the recognized PSrE (on the PSrE Induk's trusted "
            "list) whose CA issued the signer's certificate; null for this installation's own",
        },
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
        "required": True,
        "description": "the document's id, for one GET /api/sign/download/{id_dokumen}",
        "schema": _S,
    }
}


def _op(
    summary: str,
    ok: dict[str, Any],
    *codes: int,
    request: dict[str, Any],
    description: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **_errors(*codes)}}
    if description:
        op["description"] = description
    if "path" in request:
        op["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in request["path"]["properties"].items()
        ]
    if "json" in request:
        op["requestBody"] = {"required": True, "content": _json(request["json"])}
    if "multipart" in request:
        schema = request["multipart"]
        encoding = {
            name: {"contentType": prop.get("contentMediaType", "application/octet-stream")}
            for name, prop in schema["properties"].items()
            if prop.get("format") == "binary"
        }
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema, "encoding": encoding}},
        }
    return op


_COUNTS = (
    "Counts JSON Schema cannot state are in x-psre-counts: `items` has exactly `count` entries "
    "when both are given; `items` has one entry, or one `per` entry of the other field."
)


def openapi_document(max_files: int = SigningConfig.max_files) -> dict[str, Any]:
    """The document for a server whose signing.max_files is ``max_files``."""
    from signing_api.csc.openapi import csc_components, csc_paths

    req = request_schemas(max_files)
    signing = (*_ACTIVATION, 4014, 4131, 4290, 5032)
    paths: dict[str, Any] = {
        **_v1_paths(req, signing),
        **_v2_paths(req, signing),
        **_seal_paths(req, signing),
        "/api/openapi.json": {
            "get": {
                "summary": "This document (no credentials needed).",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": _json({"type": "object"})}
                },
            }
        },
    }
    paths.update(csc_paths())
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": _info(),
        "components": _components(csc_components()),
        "security": [{"basic": []}],
        "paths": paths,
    }


_Requests = dict[str, dict[str, Any]]


def _v1_paths(req: _Requests, signing: tuple[int, ...]) -> dict[str, Any]:
    """The v1 API's paths (BSrE's first version: multipart uploads, one file)."""
    return {
        "/api/sign/pdf": {
            "post": _op(
                "Sign one PDF (v1). 200: the signed PDF, header id_dokumen (one download).",
                {"200": {"description": "signed PDF", "content": _PDF, "headers": _ID_DOKUMEN}},
                *signing,
                request=req["POST /api/sign/pdf"],
            )
        },
        "/api/sign/download/{id_dokumen}": {
            "get": _op(
                "The signed PDF of a v1 request, once; then 404 with 4044.",
                {"200": {"description": "signed PDF", "content": _PDF, "headers": _ID_DOKUMEN}},
                4040,
                4044,
                request=req["GET /api/sign/download/{id_dokumen}"],
            )
        },
        "/api/sign/verify": {
            "post": _op(
                "Verify the signatures of a PDF (v1 answer shape).",
                {"200": {"description": "BSrE's v1 verification answer", "content": _V1_VERIFY}},
                4014,
                4131,
                4291,
                5032,
                request=req["POST /api/sign/verify"],
            )
        },
        "/api/user/status/{nik}": {
            "get": _op(
                "Signer status (v1).",
                {"200": {"description": "status", "content": _STATUS}},
                request=req["GET /api/user/status/{nik}"],
            )
        },
    }


def _v2_paths(req: _Requests, signing: tuple[int, ...]) -> dict[str, Any]:
    """The v2 API's signer paths (JSON, bulk signing)."""
    return {
        "/api/v2/sign/pdf": {
            "post": _op(
                "Sign one or many PDFs (bulk) with a passphrase or a one-time TOTP.",
                {"200": {"description": "signed files, request order", "content": _SIGNED}},
                *signing,
                request=req["POST /api/v2/sign/pdf"],
                description=_COUNTS,
            )
        },
        "/api/v2/sign/get/totp": {
            "post": _op(
                "Send the signer a one-time TOTP for `data` files (outbox notifier), valid "
                "signing.totp_seconds, usable once by this client app; a newer one voids it.",
                {
                    "200": {
                        "description": "sent (the code is never in the answer)",
                        "content": _TOTP_SENT,
                    }
                },
                *_ACTIVATION,
                4014,
                request=req["POST /api/v2/sign/get/totp"],
                description=_COUNTS,
            )
        },
        "/api/v2/user/check/status": {
            "post": _op(
                "Signer status (v2), by nik or email.",
                {"200": {"description": "status", "content": _STATUS}},
                4014,
                request=req["POST /api/v2/user/check/status"],
            )
        },
        "/api/v2/user/registration": {
            "post": _op(
                "Register a civil servant (status NEW until an RA operator issues the "
                "certificate). instansi defaults to the client app's name. Sole control: "
                "`passphrase` is accepted for BSrE compatibility and discarded; psre sends the "
                "signer an activation code and they set their own passphrase at /passphrase.",
                {"201": {"description": "registration record", "content": _REGISTERED}},
                4014,
                4024,
                request=req["POST /api/v2/user/registration"],
                description="email must be an RFC 5321 mailbox (ASCII, a domain of two or "
                "more labels); nama must not be blank.",
            )
        },
        "/api/v2/verify/pdf": {
            "post": _op(
                "Verify the signatures of a PDF (v2 answer shape; upstream spellings kept).",
                {"200": {"description": "verification report", "content": _VERIFY_V2}},
                4014,
                4131,
                4291,
                5032,
                request=req["POST /api/v2/verify/pdf"],
            )
        },
    }


def _seal_paths(req: _Requests, signing: tuple[int, ...]) -> dict[str, Any]:
    """The v2 API's paths for agency seals."""
    return {
        "/api/v2/seal/get/activation": {
            "post": _op(
                "Activate sealing with an agency's key for this client app: {idSubscriber, "
                "passphrase}, or refresh with {idSubscriber, totp: <current activation>}. The "
                "new activation token is returned in `totp` (valid signing.seal_activation_days).",
                {"200": {"description": "activation", "content": _SEAL_ANSWER}},
                *_ACTIVATION,
                4014,
                request=req["POST /api/v2/seal/get/activation"],
            )
        },
        "/api/v2/seal/get/totp": {
            "post": _op(
                "A one-time seal code for `data` files, returned in `totp`; needs a live "
                "activation token in `activation`.",
                {"200": {"description": "code", "content": _SEAL_ANSWER}},
                *_ACTIVATION,
                4014,
                request=req["POST /api/v2/seal/get/totp"],
                description=_COUNTS,
            )
        },
        "/api/v2/seal/revoke/activation": {
            "post": _op(
                "Revoke this client app's seal activations for the agency (only `activation`'s "
                "if given); their unused codes stop working.",
                {"200": {"description": "revoked", "content": _SEAL_ANSWER}},
                2011,
                2021,
                4014,
                request=req["POST /api/v2/seal/revoke/activation"],
            )
        },
        "/api/v2/seal/pdf": {
            "post": _op(
                "Seal PDFs with the agency's key (legal-person-seal certificate).",
                {"200": {"description": "sealed files", "content": _SIGNED}},
                *signing,
                request=req["POST /api/v2/seal/pdf"],
                description=_COUNTS,
            )
        },
    }


def _info() -> dict[str, Any]:
    return {
        "title": "psre e-sign API (BSrE-compatible v1 + v2)",
        "version": __version__,
        "description": "Client apps authenticate with HTTP Basic credentials from "
        "`psre client add`. Signers activate each request with their passphrase or a "
        "one-time TOTP sent to them; signing.max_failures consecutive failures lock the "
        "calling app out for that signer, signing.max_failures_signer across all apps lock "
        "the signer, each for signing.lockout_minutes (2031 with locked=true, HTTP 423). A "
        "TOTP issued to another app is refused (2031, counted=false) without counting. "
        "Errors: {status_code, error} with a 4xx/5xx status; a field missing or empty is "
        "4014, any other refused field 4015 (text holding NUL or lone surrogates, JSON nested "
        f"deeper than {MAX_JSON_DEPTH} levels or with more than {MAX_JSON_TOKENS} values "
        "included). A method a path does not offer is answered 405 "
        "with an Allow header (components.responses.MethodNotAllowed). "
        "The CSC API (paths /csc/v2/ and /csc/v1/, tag CSC) authenticates with a bearer "
        "token from its auth/login and answers errors as {error, error_description} "
        "(components.x-csc-errors).",
    }


def _components(csc: dict[str, Any]) -> dict[str, Any]:
    return {
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            **csc["securitySchemes"],
        },
        "schemas": {"Error": _error_schema(sorted(CODES)), **csc["schemas"]},
        "x-csc-errors": csc["x-csc-errors"],
        "responses": {
            "MethodNotAllowed": {
                "description": "4050: the path does not offer this method",
                "headers": {
                    "Allow": {
                        "required": True,
                        "schema": _S,
                        "description": "the methods the path offers (RFC 9110 §10.2.1)",
                    }
                },
                "content": _json(_error_schema([4050])),
            },
            "NotFound": {
                "description": "4040: no such endpoint",
                "content": _json(_error_schema([4040])),
            },
        },
        "x-error-codes": {str(c): {"http": s, "meaning": m} for c, (s, m) in CODES.items()},
    }
