"""The CSC API's part of the OpenAPI document (signing_api.openapi merges it in): every method
under ``/csc/v2/`` and its ``/csc/v1/`` alias, the bearer scheme, and CSC's error shape with
each error name's HTTP status."""

from __future__ import annotations

from typing import Any

from signing_api.csc.errors import CODES

_S = {"type": "string"}
_B64S = {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}, "minItems": 1}
_OID = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)+$"}
_AUTH_DATA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"id": {"enum": ["PIN", "OTP"]}, "value": _S},
        "required": ["id", "value"],
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"error": {"enum": sorted(CODES)}, "error_description": _S},
        "required": ["error", "error_description"],
    }


def _errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        names = sorted(n for n, (s, _) in CODES.items() if s == status)
        resp: dict[str, Any] = {
            "description": "; ".join(f"{n}: {CODES[n][1]}" for n in names),
            "content": _json({"$ref": "#/components/schemas/CscError"}),
        }
        if status == 401:
            resp["headers"] = {"WWW-Authenticate": {"required": True, "schema": _S}}
        out[str(status)] = resp
    return out


def _op(
    summary: str, request: dict[str, Any], ok: dict[str, Any], *, auth: str = "bearer"
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["CSC"],
        "security": [{auth: []}] if auth else [],
        "requestBody": {"required": auth != "", "content": _json(request)},
        "responses": {**ok, **_errors(400, 401, 500, 503)},
    }
    if not auth:
        op["responses"] = {**ok, **_errors(500)}
    return op


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required)}


def _ok(schema: dict[str, Any] | None, description: str = "done") -> dict[str, Any]:
    if schema is None:
        return {"204": {"description": description}}
    return {"200": {"description": description, "content": _json(schema)}}


def _methods() -> dict[str, dict[str, Any]]:
    sad = "Signature Activation Data: single use, short-lived (csc.sad_seconds)"
    return {
        "info": _op(
            "The service: name, region, specs, authType, methods (no credentials).",
            _obj({}),
            _ok(_obj({"specs": _S, "name": _S, "region": _S, "authType": {}, "methods": {}})),
            auth="",
        ),
        "auth/login": _op(
            "HTTP Basic with a client app's credentials (psre client add) → bearer token.",
            _obj({}),
            _ok(_obj({"access_token": _S, "expires_in": {"type": "integer"}})),
            auth="basic",
        ),
        "auth/revoke": _op("Revoke a token of this app (default: the one presented).",
                           _obj({"token": _S}), _ok(None, "revoked")),
        "credentials/list": _op(
            "The credentials of a signer (NIK or e-mail) or an agency (organisation id).",
            _obj({"userID": _S, "maxResults": {"type": "integer"}}, ("userID",)),
            _ok(_obj({"credentialIDs": {"type": "array", "items": _S}})),
        ),
        "credentials/info": _op(
            "Key (status, algo OIDs, len, curve), certificate (none/single/chain, certInfo), "
            "authMode explicit with PIN and OTP objects, multisign, SCAL \"2\".",
            _obj({"credentialID": _S, "certificates": {"enum": ["none", "single", "chain"]},
                  "certInfo": {"type": "boolean"}, "authInfo": {"type": "boolean"}},
                 ("credentialID",)),
            _ok(_obj({"key": {}, "cert": {}, "authMode": _S, "SCAL": _S, "multisign": {}})),
        ),
        "credentials/authorize": _op(
            "PIN (the signer's passphrase; for a seal, the agency's seal activation) or OTP "
            f"(credentials/sendOTP; for a seal, /api/v2/seal/get/totp) → SAD for exactly these "
            f"hashes. {sad}. v1 names hash, hashAlgo, PIN, OTP are accepted too.",
            _obj({"credentialID": _S, "numSignatures": {"type": "integer"}, "hashes": _B64S,
                  "hash": _B64S, "hashAlgorithmOID": _OID, "hashAlgo": _OID,
                  "authData": _AUTH_DATA, "PIN": _S, "OTP": _S}, ("credentialID",)),
            _ok(_obj({"SAD": _S, "expiresIn": {"type": "integer"}})),
        ),
        "credentials/sendOTP": _op(
            "Send the signer a one-time code through psre's notifier (numSignatures: psre's).",
            _obj({"credentialID": _S, "numSignatures": {"type": "integer"}}, ("credentialID",)),
            _ok(None, "sent"),
        ),
        "signatures/signHash": _op(
            "Sign the hashes the SAD was given for: ECDSA, RSA PKCS#1 v1.5, RSASSA-PSS "
            "(signAlgoParams: DER RSASSA-PSS-params, base64). Any other hash, app, credential, "
            "a spent or expired SAD: invalid_request, counted as a failed activation.",
            _obj({"credentialID": _S, "SAD": _S, "hashes": _B64S, "hash": _B64S,
                  "hashAlgorithmOID": _OID, "hashAlgo": _OID, "signAlgo": _OID,
                  "signAlgoParams": _S, "operationMode": {"enum": ["S"]}},
                 ("credentialID", "SAD", "signAlgo")),
            _ok(_obj({"signatures": {"type": "array", "items": _S}})),
        ),
        "signatures/timestamp": _op(
            "An RFC 3161 token from psre's TSA over one hash.",
            _obj({"hash": _S, "hashAlgo": _OID, "nonce": _S}, ("hash", "hashAlgo")),
            _ok(_obj({"timestamp": _S})),
        ),
    }  # fmt: skip


def csc_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for version in ("v2", "v1"):
        for name, op in _methods().items():
            entry = {"post": op}
            if name == "info":
                entry["get"] = op
            paths[f"/csc/{version}/{name}"] = entry
    return paths


def csc_components() -> dict[str, Any]:
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"CscError": error_schema()},
        "x-csc-errors": {n: {"http": s, "meaning": m} for n, (s, m) in CODES.items()},
    }
