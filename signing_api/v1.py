"""BSrE e-sign API v1: multipart/form-data (reference: bsre-esign-api.md, "v1")."""

from __future__ import annotations

from flask import Response, jsonify, request
from werkzeug.datastructures import FileStorage

from ca_core.app_runtime import runtime
from signing_api import documents
from signing_api.activation import (
    ApiStatus,
    api_status,
    find_subscriber,
    require_signer,
    require_subscriber,
)
from signing_api.disposition import attachment, file_name
from signing_api.esign_common import (
    activation,
    channel_key,
    client,
    count_signing_request,
    esign_blueprint,
)
from signing_api.esign_errors import missing
from signing_api.fields import StampFields, check_nik, require_pdf, sign_options
from signing_api.runtime import pdf_engine, signing_runtime
from signing_api.service import Document, level_for, sign_documents
from signing_api.verify import verify_pdf_details
from signing_api.verify_shapes import v1_report
from signing_api.verify_sources import store_sources

bp = esign_blueprint("esign_v1", "/api")


def _file(name: str) -> FileStorage:
    f = request.files.get(name)
    if f is None or (not f.filename and not f.content_length):
        raise missing(name)
    return f


@bp.post("/sign/pdf")
def sign_pdf_v1() -> Response:
    rt = signing_runtime()
    form = request.form
    upload = _file("file")
    data = require_pdf("file", upload.read())
    nik = check_nik(form.get("nik"))
    passphrase = form.get("passphrase")
    if not passphrase:
        raise missing("passphrase")
    use_image = (form.get("image") or "false").strip().lower() == "true"
    image_file = request.files.get("imageTTD")
    fields = StampFields(
        tampilan=form.get("tampilan"),
        use_image=use_image,
        image=image_file.read() if image_file is not None else None,
        link_qr=form.get("linkQR"),
        page=form.get("page"),
        halaman=form.get("halaman"),
        x=form.get("xAxis"),
        y=form.get("yAxis"),
        width=form.get("width"),
        height=form.get("height"),
        tag=form.get("tag_koordinat"),
        reason=form.get("reason"),
        location=form.get("location"),
        pdf_password=form.get("pdfPassword"),
        level=form.get("level"),
    )
    options = sign_options(fields, level_for(None, client(), rt.config.signing.default_level))
    sub = require_subscriber(rt.store, nik=nik)
    signer = require_signer(rt.store, sub, clock=rt.clock)
    count_signing_request(rt.store, rt.config.signing)
    activation().check(sub, passphrase=passphrase, code=None, documents=1)
    name = file_name(upload.filename)
    doc = Document(name, data, options)
    (signed,) = sign_documents(pdf_engine(rt), rt.audit, client(), signer, [doc])
    doc_id = documents.keep(
        rt.store,
        client().id,
        sub.id,
        name,
        signed,
        rt.config.signing.document_minutes,
        clock=rt.clock,
    )
    # Built from values that cannot fail to encode (a hex id, an ASCII disposition): the
    # signature is made and audited by now, and the answer must not be lost to a file name.
    resp = Response(signed, mimetype="application/pdf")
    resp.headers["id_dokumen"] = doc_id
    resp.headers["Content-Disposition"] = attachment(name)
    return resp


@bp.get("/sign/download/<id_dokumen>")
def download(id_dokumen: str) -> Response:
    store = runtime().store
    held = documents.claim(store, client().id, id_dokumen, clock=runtime().clock)
    resp = Response(documents.DeliverOnce(store, held), mimetype="application/pdf")
    resp.headers["Content-Length"] = str(len(held.data))
    # As the sign answer: BSrE clients read the document id from this header either way.
    resp.headers["id_dokumen"] = held.document_id
    resp.headers["Content-Disposition"] = attachment(held.filename)
    return resp


@bp.post("/sign/verify")
def verify() -> Response:
    rt = signing_runtime()
    with rt.client_slots.hold(request.remote_addr):
        upload = _file("signed_file")
        data = require_pdf("signed_file", upload.read())
        trust, revinfo = store_sources(rt.config)
        report, details = verify_pdf_details(trust, revinfo, rt.clock, data, pool=rt.pdf_pool)
    return jsonify(v1_report(upload.filename or "document.pdf", report, details))


@bp.get("/user/status/<nik>")
def user_status(nik: str) -> Response:
    rt = runtime()
    nik = check_nik(nik)
    status = api_status(rt.store, find_subscriber(rt.store, nik=nik), channel_key(), clock=rt.clock)
    return jsonify(v1_status(status))


#: v1 status codes: 1111 may sign, 1110 not registered (reference); 1112 registered but not
#: (or no longer) able to sign — our choice where the reference is silent. A locked signer is
#: ``LOCKED`` with ``locked_until``.
def v1_status(st: ApiStatus) -> dict[str, object]:
    status = st.status
    if st.can_sign:
        return {"status_code": 1111, "status": status, "message": "User dapat melakukan TTE"}
    if status == "NOT_REGISTERED":
        return {"status_code": 1110, "status": status, "message": "User tidak terdaftar"}
    return {
        "status_code": 1112,
        "status": status,
        "message": status_message(st),
        **locked_fields(st),
    }


def status_message(st: ApiStatus) -> str:
    if st.locked_until is not None:
        return (
            f"User belum dapat TTE: akun terkunci sampai {st.locked_until.isoformat()} "
            "(locked after wrong passphrases/TOTPs)"
        )
    return f"User belum dapat TTE ({st.status})"


def locked_fields(st: ApiStatus) -> dict[str, object]:
    return {"locked_until": st.locked_until.isoformat()} if st.locked_until else {}
