"""The CSC API's Flask blueprints: ``/csc/v2/`` and ``/csc/v1/`` (same methods; both accept
the v1 and v2 field spellings, see signing_api.csc.fields).

Authentication: ``info`` is public; ``auth/login`` takes HTTP Basic with a client app's
credentials (signing_api.client_auth) and gives a bearer token; every other method needs it.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from asn1crypto import tsp
from flask import Blueprint, Response, g, jsonify, request

from ca_core import audit_objects
from ca_core.app_runtime import runtime
from signing_api.activation import find_subscriber, require_signer
from signing_api.client_auth import ClientApp, authenticate, check_rate
from signing_api.csc import credentials, fields, hash_sign, sad, tokens
from signing_api.csc.errors import (
    INVALID_REQUEST,
    NOT_FOUND,
    CscError,
    from_esign,
    invalid,
    register_handlers,
)
from signing_api.edge import parse_json
from signing_api.esign_common import activation, notifier
from signing_api.esign_errors import EsignError
from signing_api.lockout import Lockout, client_channel, subject_key
from signing_api.runtime import signing_runtime

SPECS = {"v1": "1.0.4.0", "v2": "2.0.0.2"}
METHODS = [
    "auth/login",
    "auth/revoke",
    "credentials/list",
    "credentials/info",
    "credentials/authorize",
    "credentials/sendOTP",
    "signatures/signHash",
    "signatures/timestamp",
]
_PUBLIC = ("info", "<path:rest>")


def make_blueprint(version: str) -> Blueprint:
    bp = Blueprint(f"csc_{version}", __name__, url_prefix=f"/csc/{version}")
    register_handlers(bp)

    @bp.before_request
    def _authenticate() -> None:
        method = (request.url_rule.rule if request.url_rule else "").rsplit(f"/csc/{version}/", 1)[
            -1
        ]
        store = runtime().store
        if method in _PUBLIC:
            return
        if method == "auth/login":
            g.esign_client = authenticate(store)
            return
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        g.esign_client = tokens.client_of(
            store, token.strip() if scheme.lower() == "bearer" else None, clock=runtime().clock
        )
        g.csc_token = token.strip()

    bp.add_url_rule("/info", view_func=info, methods=["GET", "POST"], defaults={"version": version})
    for name, view in _VIEWS.items():
        bp.add_url_rule(
            f"/{name}", endpoint=name.replace("/", "_"), view_func=view, methods=["POST"]
        )
    bp.add_url_rule("/<path:rest>", view_func=_unknown, methods=["GET", "POST", "PUT", "DELETE"])
    return bp


def _unknown(rest: str) -> Response:
    if rest in _VIEWS:
        raise CscError(INVALID_REQUEST, f"{rest} takes POST", status=405)
    raise CscError(NOT_FOUND, f"no such CSC method: {rest}")


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise CscError(INVALID_REQUEST, "the body must be a JSON object")
    return body


def _client() -> ClientApp:
    return g.esign_client


def info(version: str) -> Response:
    cfg = runtime().config
    return jsonify(
        {
            "specs": SPECS[version],
            "name": "psre",
            "logo": f"{cfg.public_base_url}/static/logo.png",
            "region": "ID",
            "lang": "en-US",
            "description": "psre remote signing: HSM keys activated by their holder alone",
            "authType": ["basic"],
            "oauth2": "",
            "methods": METHODS,
            "signAlgorithms": {"algos": sorted(set(credentials.EC_ALGOS + credentials.RSA_ALGOS))},
        }
    )


def login() -> Response:
    rt = runtime()
    token, seconds = tokens.issue(rt.store, _client(), rt.config.csc.token_seconds, clock=rt.clock)
    return jsonify({"access_token": token, "token_type": "Bearer", "expires_in": seconds})


def revoke() -> Response:
    body = _body()
    token = fields.text(body, "token") or g.csc_token
    tokens.revoke(runtime().store, _client(), token, clock=runtime().clock)
    return Response(status=204)


def list_credentials() -> Response:
    rt = runtime()
    body = _body()
    user = fields.text(body, "userID", required=True)
    assert user is not None
    limit = fields.count(body, "maxResults", 100, 1000)
    if "@" in user:
        sub = find_subscriber(rt.store, email=user)
    elif user.isdigit():
        sub = find_subscriber(rt.store, nik=user)
    else:
        sub = find_subscriber(rt.store, org_id=user)
    if sub is None:
        raise invalid("userID", "no such signer")
    return jsonify({"credentialIDs": credentials.list_for(rt.store, sub, rt.clock())[:limit]})


def _auth_objects(seal: bool) -> dict[str, Any]:
    pin = (
        "the agency's seal activation (POST /api/v2/seal/get/activation)"
        if seal
        else "the signer's own passphrase"
    )
    otp = (
        "a seal code (POST /api/v2/seal/get/totp)"
        if seal
        else "a one-time code sent to the signer (credentials/sendOTP)"
    )
    return {
        "authMode": "explicit",
        "PIN": {"presence": "optional", "format": "A", "label": "PIN", "description": pin},
        "OTP": {
            "presence": "optional",
            "type": "online",
            "format": "N",
            "ID": "psre-seal-code" if seal else "psre-totp",
            "provider": "psre",
            "description": otp,
        },
        "auth": {
            "mode": "explicit",
            "expression": "PIN OR OTP",
            "objects": [
                {"type": "Password", "id": "PIN", "format": "A", "label": "PIN",
                 "description": pin},
                {"type": "Password", "id": "OTP", "format": "N", "generator": "totp",
                 "label": "OTP", "description": otp},
            ],
        },
    }  # fmt: skip


def credential_info() -> Response:
    rt = runtime()
    body = _body()
    cred = credentials.find(rt.store, fields.text(body, "credentialID", required=True))
    which = fields.text(body, "certificates") or "single"
    if which not in ("none", "single", "chain"):
        raise invalid("certificates", "none, single or chain")
    cert_info = body.get("certInfo", False) is True
    ok = credentials.usable(rt.store, cred, rt.clock())
    answer: dict[str, Any] = {
        "description": "agency seal" if cred.is_seal else "personal signature",
        "key": credentials.key_info(cred, ok),
        "cert": credentials.cert_info(rt.store, cred, which, cert_info, clock=rt.clock),
    }
    if body.get("authInfo", True) is not False:
        answer.update(_auth_objects(cred.is_seal))
    answer.update(multisign=rt.config.csc.multisign, SCAL="2", lang="en-US")
    return jsonify(answer)


def _signing_credential(body: dict[str, Any]) -> credentials.Credential:
    """The credential, if it may sign now (status ISSUE, certificate good and current, CAs
    good): the certificate must be the signer's current one."""
    rt = runtime()
    cred = credentials.find(rt.store, fields.text(body, "credentialID", required=True))
    signer = require_signer(rt.store, cred.subscriber, clock=rt.clock)
    if signer.certificate.id != cred.certificate.id:
        why = f"certificate {cred.cert_status(rt.clock())}; the signer has a newer credential"
        raise CscError(INVALID_REQUEST, f"the credential cannot sign: {why}")
    return cred


def _check_sizes(hashes: list[bytes], oid: str | None) -> None:
    if oid is not None and any(len(h) != fields.HASH_OIDS[oid][1] for h in hashes):
        raise invalid("hashes", "not the size of hashAlgorithmOID's digests")


def authorize() -> Response:
    rt = runtime()
    body = _body()
    limit = rt.config.csc.multisign
    hashes = fields.hashes(body, limit)  # SCAL 2: a SAD always names its hashes
    n = fields.count(body, "numSignatures", len(hashes), limit)
    if n != len(hashes):
        raise invalid("numSignatures", "must be the number of hashes (SCAL 2)")
    oid = fields.hash_oid(body, required=False)
    _check_sizes(hashes, oid)
    auth = fields.auth_data(body)
    cred = _signing_credential(body)
    sub = cred.subscriber
    act = activation()
    try:
        if cred.is_seal and auth.method == "PIN":
            act.check_seal_activation(sub, auth.value)
        else:
            act.check(
                sub,
                passphrase=auth.value if auth.method == "PIN" else None,
                code=auth.value if auth.method == "OTP" else None,
                documents=n,
                purpose="seal" if cred.is_seal else "sign",
            )
    except EsignError as ex:
        refused = from_esign(ex, auth.method)
        _refused("csc.authorize_refused", cred, hashes, refused, method=auth.method)
        raise refused from None
    client = _client()
    grant = sad.Grant(client, sub.id, cred.certificate.id, hashes, oid or "")
    token, seconds = sad.issue(
        rt.store,
        grant,
        rt.config.csc.sad_seconds,
        f"client:{client.username}",
        {
            "subject": subject_key(sub),
            "credential": cred.id,
            "certificate": cred.certificate.serial_hex,
            "method": auth.method,  # which, never the value
            "num_signatures": n,
            "hash_algorithm": oid,
            "hashes": [h.hex() for h in hashes],
        },
        clock=rt.clock,
    )
    return jsonify({"SAD": token, "expiresIn": seconds})


def _refused(
    action: str, cred: credentials.Credential, hashes: list[bytes], why: CscError, **extra: str
) -> None:
    """A refused authorize or signHash is audited too, with the hashes it was for (the failed
    activation itself is audited by signing_api.lockout); the answer's words, never a secret."""
    client = _client()
    runtime().audit.append(
        f"client:{client.username}",
        action,
        subject_key(cred.subscriber),
        {
            "credential": cred.id,
            "error": why.error,
            "reason": why.description,
            "hashes": [h.hex() for h in hashes],
            **extra,
        },
    )


def send_otp() -> Response:
    rt = runtime()
    body = _body()
    cred = _signing_credential(body)
    if cred.is_seal:
        raise CscError(INVALID_REQUEST, "seal codes come from /api/v2/seal/get/totp")
    n = fields.count(body, "numSignatures", 1, rt.config.csc.multisign)
    activation().send_code(cred.subscriber, n, notifier())
    return Response(status=204)


def sign_hash() -> Response:
    rt = runtime()
    body = _body()
    limit = rt.config.csc.multisign
    hashes = fields.hashes(body, limit)
    oid = fields.hash_oid(body, required=True)
    assert oid is not None
    _check_sizes(hashes, oid)
    mode = fields.text(body, "operationMode")
    if mode not in (None, "S"):
        raise invalid("operationMode", "only synchronous signing (S)")
    presented = fields.text(body, "SAD", required=True)
    assert presented is not None
    cred = _signing_credential(body)
    hash_name = fields.HASH_OIDS[oid][0]
    key = "ec" if credentials.key_info(cred, True)["algo"] == credentials.EC_ALGOS else "rsa"
    scheme = hash_sign.scheme_for(
        fields.text(body, "signAlgo"), fields.text(body, "signAlgoParams"), hash_name, key
    )
    client = _client()
    sub = cred.subscriber
    lockout = Lockout(
        rt.store, rt.config.signing, client_channel(client.id, client.username), notifier()
    )
    now = rt.clock()
    grant = sad.Grant(client, sub.id, cred.certificate.id, hashes, oid)
    try:
        lockout.refuse_if_locked(sub, now)
        row_id, why = sad.check(rt.store, presented, grant, clock=rt.clock)
        if why is not None:
            try:
                lockout.failed(sub, "SAD", now)
            except EsignError as ex:
                if ex.extra.get("locked"):
                    raise
                raise CscError(INVALID_REQUEST, f"Invalid parameter SAD: {why}") from None
    except EsignError as ex:
        refused = from_esign(ex, "SAD")
        _refused("csc.sign_hash_refused", cred, hashes, refused)
        raise refused from None
    except CscError as refused:
        _refused("csc.sign_hash_refused", cred, hashes, refused)
        raise
    check_rate(rt.store, client, rt.config.signing.rate_limit_per_minute)
    label = cred.certificate.key_label
    assert label is not None
    signatures = [
        rt.backend.sign(
            label,
            h,
            hash_name,
            scheme.scheme,
            prehashed=True,
            pss_salt_length=scheme.pss_salt_length,
        )
        for h in hashes
    ]
    # Spent and audited in one transaction; the signatures leave only if it committed.
    spent = sad.spend(
        rt.store,
        row_id,
        actor=audit_objects.client(client.username),
        subject=subject_key(sub),
        details={
            "credential": cred.id,
            "certificate": cred.certificate.serial_hex,
            "sign_algorithm": fields.text(body, "signAlgo"),
            "hash_algorithm": oid,
            "hashes": [h.hex() for h in hashes],
        },
        clock=rt.clock,
    )
    if not spent:
        raise CscError(INVALID_REQUEST, "Invalid parameter SAD: the SAD was already used")
    return jsonify({"signatures": [base64.b64encode(s).decode() for s in signatures]})


def timestamp() -> Response:
    """An RFC 3161 token from psre's TSA over one hash (CSC 2.0 signatures/timestamp)."""
    body = _body()
    value = fields.either(body, "hash", "hashes")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise fields.missing("hash")
    digest = fields.hashes({"hash": [value]}, 1)[0]
    oid = fields.either(body, "hashAlgo", "hashAlgorithmOID")
    if not isinstance(oid, str) or oid not in fields.HASH_OIDS:
        raise invalid("hashAlgo", "SHA-256, SHA-384 or SHA-512 by OID")
    name, size = fields.HASH_OIDS[oid]
    if len(digest) != size:
        raise invalid("hash", f"not a {name} digest")
    nonce_hex = fields.text(body, "nonce")
    try:
        nonce = int(nonce_hex, 16) if nonce_hex else secrets.randbits(63)
    except ValueError:
        raise invalid("nonce", "hexadecimal") from None
    req = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {"hash_algorithm": {"algorithm": name}, "hashed_message": digest},
            "nonce": nonce,
            "cert_req": True,
        }
    )
    resp = tsp.TimeStampResp.load(signing_runtime().tsa.respond_der(req.dump()))
    if resp["status"]["status"].native not in ("granted", "granted_with_mods"):
        text = resp["status"]["status_string"].native or ["rejected"]
        raise CscError(INVALID_REQUEST, f"the TSA refused: {'; '.join(text)}")
    return jsonify({"timestamp": base64.b64encode(resp["time_stamp_token"].dump()).decode()})


_VIEWS = {
    "auth/login": login,
    "auth/revoke": revoke,
    "credentials/list": list_credentials,
    "credentials/info": credential_info,
    "credentials/authorize": authorize,
    "credentials/sendOTP": send_otp,
    "signatures/signHash": sign_hash,
    "signatures/timestamp": timestamp,
}


def register(app: Any) -> None:
    for version in ("v1", "v2"):
        app.register_blueprint(make_blueprint(version))
