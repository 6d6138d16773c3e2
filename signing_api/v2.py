"""BSrE e-sign API v2: JSON, files as base64; bulk signing and agency seals.

Reference: bsre-esign-api.md ("v2"). Where the reference is silent (seal activation flow, level
selection, response details) the choice is documented in the OpenAPI document.

Seals: an agency subscriber (kind ``agency``, certificate profile ``legal-person-seal``) lets a
client app seal by giving it an *activation* (``seal/get/activation`` with the agency's
passphrase). With the activation token the app asks ``seal/get/totp`` for a one-time code for N
documents and seals them with ``seal/pdf``. Revoking the activation voids its unused codes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import Any

from flask import Response, jsonify, request

from ca_core.app_runtime import runtime
from ca_core.store import Store
from ca_core.subscribers import Enrolment, SubscriberError
from signing_api.activation import (
    Signer,
    api_status,
    find_subscriber,
    require_signer,
    require_subscriber,
)
from signing_api.enrolment import Invitation, enrol_and_invite
from signing_api.esign_common import (
    activation,
    channel_key,
    client,
    count_signing_request,
    esign_blueprint,
    json_body,
    notifier,
    text_field,
)
from signing_api.esign_errors import (
    ALREADY_REGISTERED,
    CANNOT_SIGN,
    EsignError,
    invalid,
    missing,
)
from signing_api.fields import StampFields, b64decode, check_nik, require_pdf, sign_options
from signing_api.runtime import pdf_engine, signing_runtime
from signing_api.service import Document, level_for, sign_documents
from signing_api.v1 import locked_fields, status_message
from signing_api.verify import verify_pdf_details
from signing_api.verify_shapes import v2_report
from signing_api.verify_sources import store_sources

bp = esign_blueprint("esign_v2", "/api/v2")


# --- signing ----------------------------------------------------------------------------------


def _files(body: dict[str, Any]) -> list[bytes]:
    files = body.get("file")
    if files is None or files == []:
        raise missing("file")
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list):
        raise invalid("file", "must be a list of base64 PDFs")
    limit = runtime().config.signing.max_files
    if len(files) > limit:
        raise invalid("file", f"at most {limit} files per request")
    return [require_pdf(f"file[{i}]", b64decode(f"file[{i}]", f)) for i, f in enumerate(files)]


def _properties(body: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """One entry per file, or one for all (bulk); none means invisible signatures."""
    props = body.get("signatureProperties")
    if props is None or props == []:
        return [{}] * n
    if isinstance(props, dict):
        props = [props]
    if not isinstance(props, list) or not all(isinstance(p, dict) for p in props):
        raise invalid("signatureProperties", "must be a list of objects")
    if len(props) == 1:
        return props * n
    if len(props) != n:
        raise invalid("signatureProperties", f"give one entry, or one per file ({n})")
    return props


def _stamp_fields(p: dict[str, Any], i: int) -> StampFields:
    def text(name: str) -> str | None:
        value = p.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise invalid(f"signatureProperties[{i}].{name}", "must be a string or number")
        return str(value)

    image = p.get("imageBase64")
    return StampFields(
        tampilan=text("tampilan"),
        use_image=not text("linkQR") or bool(image),
        image=b64decode(f"signatureProperties[{i}].imageBase64", image) if image else None,
        image_field="imageBase64",
        link_qr=text("linkQR"),
        page=text("page"),
        halaman=text("halaman"),
        x=text("originX"),
        y=text("originY"),
        x_field="originX",
        y_field="originY",
        width=text("width"),
        height=text("height"),
        tag=text("tag_koordinat"),
        reason=text("reason"),
        location=text("location"),
        pdf_password=text("pdfPassword"),
        level=text("level"),
    )


def _documents(body: dict[str, Any]) -> list[Document]:
    rt = runtime()
    files = _files(body)
    default = level_for(None, client(), rt.config.signing.default_level)
    props = _properties(body, len(files))
    return [
        Document(f"file[{i}]", data, sign_options(_stamp_fields(p, i), default))
        for i, (data, p) in enumerate(zip(files, props, strict=True))
    ]


def _signed_answer(signer: Signer, docs: list[Document], started: float) -> Response:
    rt = signing_runtime()
    signed = sign_documents(pdf_engine(rt), rt.audit, client(), signer, docs)
    # Written by hand: base64 needs no JSON escaping, and the encoder's scan of megabytes of
    # base64 costs more than signing a small PDF.
    elapsed = round((time.perf_counter() - started) * 1000)
    files = b'","'.join(base64.b64encode(s) for s in signed)
    body = b'{"time":%d,"file":["%s"]}' % (elapsed, files)
    return Response(body, mimetype="application/json")


def _person(body: dict[str, Any]) -> Any:
    rt = runtime()
    nik = text_field(body, "nik")
    email = text_field(body, "email")
    if not nik and not email:
        raise missing("nik")
    return require_subscriber(rt.store, nik=check_nik(nik) if nik else None, email=email)


@bp.post("/sign/pdf")
def sign_pdf_v2() -> Response:
    started = time.perf_counter()
    rt = runtime()
    body = json_body()
    passphrase = text_field(body, "passphrase")
    code = text_field(body, "totp")
    if not passphrase and not code:
        raise missing("passphrase")
    docs = _documents(body)
    sub = _person(body)
    if sub.kind != "person":
        raise EsignError(CANNOT_SIGN, "an agency seals through /api/v2/seal/pdf")
    signer = require_signer(rt.store, sub, clock=rt.clock)
    count_signing_request(rt.store, rt.config.signing)
    activation().check(
        sub, passphrase=passphrase, code=code, documents=len(docs), hashes=_hashes(docs)
    )
    return _signed_answer(signer, docs, started)


@bp.post("/sign/get/totp")
def sign_get_totp() -> Response:
    rt = runtime()
    body = json_body()
    hashes = _named_hashes(body)
    documents = len(hashes) if hashes and "data" not in body else _count(body)
    if hashes and len(hashes) != documents:
        raise invalid("hashes", "give one SHA-256 per document (data)")
    sub = _person(body)
    require_signer(rt.store, sub, clock=rt.clock)
    expires = activation().send_code(sub, documents, notifier(), hashes)
    return jsonify(
        {
            "message": "TOTP telah dikirim (the TOTP was sent to the signer)",
            "expires": expires.isoformat(),
            "data": documents,
            "result": True,
        }
    )


def _hashes(docs: list[Document]) -> list[str]:
    return [hashlib.sha256(d.data).hexdigest() for d in docs]


def _named_hashes(body: dict[str, Any]) -> list[str] | None:
    """Optional ``hashes``: the SHA-256 (hex) of each document the code may sign (psre
    extension; binds the code to those exact documents, not only to their number)."""
    value = body.get("hashes")
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise invalid("hashes", "must be a list of SHA-256 hex digests")
    for h in value:
        if not isinstance(h, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", h):
            raise invalid("hashes", "must be a list of SHA-256 hex digests")
    return [h.lower() for h in value]


def _count(body: dict[str, Any]) -> int:
    value = body.get("data", 1)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid("data", "must be the number of files")
    try:
        n = int(value)
    except ValueError:
        raise invalid("data", "must be the number of files") from None
    limit = runtime().config.signing.max_files
    if not 1 <= n <= limit:
        raise invalid("data", f"must be between 1 and {limit}")
    return n


# --- users ------------------------------------------------------------------------------------


@bp.post("/user/check/status")
def check_status() -> Response:
    store = runtime().store
    body = json_body()
    nik = text_field(body, "nik")
    email = text_field(body, "email")
    if not nik and not email:
        raise missing("nik")
    sub = find_subscriber(store, nik=check_nik(nik) if nik else None, email=email)
    st = api_status(store, sub, channel_key(), clock=runtime().clock)
    return jsonify(
        {
            "status_code": 1111 if st.can_sign else 1110 if sub is None else 1112,
            "status": st.status,
            "message": "User dapat melakukan TTE" if st.can_sign else status_message(st),
            **locked_fields(st),
        }
    )


@bp.post("/user/registration")
def registration() -> tuple[Response, int]:
    """Enrol a civil servant (status NEW; an RA operator issues the certificate after checking
    identity). ``instansi`` defaults to the client app's name.

    Sole control: the signer's passphrase is never the app's to choose. A ``passphrase`` in the
    body (BSrE clients send one) is accepted for compatibility and discarded unread; the signer
    gets an enrolment code and sets their own passphrase on psre's page."""
    rt = runtime()
    store = rt.store
    body = json_body()
    for field in ("nik", "nama", "email"):
        if not text_field(body, field):
            raise missing(field)
    nik = check_nik(text_field(body, "nik"))
    if find_subscriber(store, nik=nik) is not None:
        raise EsignError(ALREADY_REGISTERED, "NIK sudah terdaftar (NIK already registered)")
    text_field(body, "passphrase")  # still type-checked (4015 for junk), never used
    try:
        sub, expires = enrol_and_invite(
            store,
            notifier(),
            Enrolment(
                name=str(text_field(body, "nama")).strip(),
                email=str(text_field(body, "email")).strip(),
                nik=nik,
                agency=text_field(body, "instansi") or client().name,
            ),
            Invitation.from_config(rt.config),
            actor=f"client:{client().username}",
            clock=rt.clock,
        )
    except SubscriberError as ex:
        raise invalid(ex.field, ex.reason) from None
    return jsonify(
        {
            "status_code": 1112,
            "status": sub.status,
            "message": "Registrasi diterima (registered; awaiting identity verification)",
            "data": {"nik": sub.nik, "nama": sub.name, "email": sub.email, "instansi": sub.agency},
            "activation": {
                "passphrase": "ignored: the signer sets their own (sole control)",
                "enrolment_code_sent_to": sub.email,
                "expires": expires.isoformat(),
            },
        }
    ), 201


# --- verification -----------------------------------------------------------------------------


@bp.post("/verify/pdf")
def verify_v2() -> Response:
    rt = signing_runtime()
    with rt.client_slots.hold(request.remote_addr):
        body = json_body()
        if not body.get("file"):
            raise missing("file")
        data = require_pdf("file", b64decode("file", body.get("file")))
        password = text_field(body, "password")
        trust, revinfo = store_sources(rt.config)
        report, details = verify_pdf_details(
            trust, revinfo, rt.clock, data, password, pool=rt.pdf_pool
        )
    return jsonify(v2_report(report, details))


# --- agency seals -----------------------------------------------------------------------------


def _agency(store: Store, body: dict[str, Any]) -> Any:
    org = text_field(body, "idSubscriber")
    if not org:
        raise missing("idSubscriber")
    sub = require_subscriber(store, org_id=org)
    if sub.kind != "agency":
        raise EsignError(CANNOT_SIGN, "idSubscriber is not an agency")
    return sub


def _seal_answer(message: str, token: str | None, expires: Any, **extra: Any) -> Response:
    return jsonify(
        {
            "message": message,
            "totp": token,
            "expires": expires.isoformat() if expires is not None else None,
            "result": True,
            **extra,
        }
    )


@bp.post("/seal/get/activation")
def seal_activation() -> Response:
    """``{idSubscriber, passphrase}`` → a new activation; ``{idSubscriber, totp}`` with a live
    activation token refreshes it (the old one is revoked). The token is in ``totp``."""
    store = runtime().store
    body = json_body()
    sub = _agency(store, body)
    require_signer(store, sub, clock=runtime().clock)
    act = activation()
    current = text_field(body, "totp")
    passphrase = text_field(body, "passphrase")
    if current:
        act.check_seal_activation(sub, current)
        act.revoke_seal_activations(sub, current)
    elif passphrase:
        act.check(sub, passphrase=passphrase, code=None, documents=1, purpose="seal")
    else:
        raise missing("passphrase")
    token, expires = act.new_seal_activation(sub)
    return _seal_answer("Aktivasi segel berhasil (seal activated)", token, expires)


@bp.post("/seal/get/totp")
def seal_totp() -> Response:
    """``{idSubscriber, activation, data}`` → a one-time seal code for ``data`` documents."""
    store = runtime().store
    body = json_body()
    sub = _agency(store, body)
    require_signer(store, sub, clock=runtime().clock)
    hashes = _named_hashes(body)
    documents = len(hashes) if hashes and "data" not in body else _count(body)
    if hashes and len(hashes) != documents:
        raise invalid("hashes", "give one SHA-256 per document (data)")
    act = activation()
    found = act.check_seal_activation(sub, text_field(body, "activation"))
    code, expires = act.issue_code(
        sub, documents, purpose="seal", seal_activation_id=found.id, hashes=hashes
    )
    return _seal_answer("TOTP segel dibuat", code, expires, data=documents)


@bp.post("/seal/revoke/activation")
def seal_revoke() -> Response:
    """Revoke this client app's activations for the agency (only ``activation``'s if given)."""
    store = runtime().store
    body = json_body()
    sub = _agency(store, body)
    n = activation().revoke_seal_activations(sub, text_field(body, "activation"))
    return _seal_answer(f"{n} aktivasi dicabut (revoked)", None, None, revoked=n)


@bp.post("/seal/pdf")
def seal_pdf() -> Response:
    started = time.perf_counter()
    rt = runtime()
    body = json_body()
    code = text_field(body, "totp")
    if not code:
        raise missing("totp")
    docs = _documents(body)
    sub = _agency(rt.store, body)
    signer = require_signer(rt.store, sub, clock=rt.clock)
    count_signing_request(rt.store, rt.config.signing)
    activation().check(
        sub, passphrase=None, code=code, documents=len(docs), purpose="seal", hashes=_hashes(docs)
    )
    return _signed_answer(signer, docs, started)
