"""Public pages (no login): verify a signed PDF, set one's signing passphrase, the CA
repository, service status."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography import x509
from flask import Blueprint, Response, current_app, redirect, request

from ca_core.app_runtime import runtime
from signing_api import enrolment
from signing_api.client_slots import TooManyAtOnceError
from signing_api.edge import EdgeError, local_redirect
from signing_api.pdf_pool import DocumentTooComplexError, PdfWorkersBusyError
from signing_api.runtime import signing_runtime
from signing_api.verify import verify_pdf
from signing_api.verify_sources import store_sources
from web import dashboard
from web.i18n import COOKIE, LANGS
from web.render import render, render_error
from web.security import csrf_ok, set_cookie

bp = Blueprint(
    "public",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)


@bp.errorhandler(EdgeError)
def _edge(_ex: EdgeError) -> tuple[str, int]:
    """A value refused at the edge (signing_api.edge): this site's own error page."""
    return render_error("input.invalid", 400)


@bp.get("/")
def index() -> Response:
    return redirect("/verify")  # type: ignore[return-value]


@bp.get("/lang/<code>")
def switch_language(code: str) -> Response:
    # Only paths on this site: "//host", "/\t/host" or "https://…" would make this an open
    # redirect, and a CR or LF cannot go into a Location header at all.
    resp = redirect(local_redirect(request.args.get("next")))
    if code in LANGS:
        # Lax: a visitor following a link from elsewhere still gets their language.
        set_cookie(resp, COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax")
    return resp  # type: ignore[return-value]


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> tuple[str, int]:
    if request.method == "GET":
        return render("public/verify.html")
    try:
        # Before the upload is read: a client trickling a body in holds its slot too.
        with signing_runtime().client_slots.hold(request.remote_addr):
            return _verify_upload()
    except TooManyAtOnceError:
        return render("public/verify.html", 429, error="verify.too_many")


def _verify_upload() -> tuple[str, int]:
    if not csrf_ok():
        return render_error("csrf.failed", 400)
    upload = request.files.get("pdf")
    if upload is None or not upload.filename:
        return render("public/verify.html", 400, error="verify.no_file")
    # Read into memory and answer: the upload is never written anywhere by us (werkzeug's
    # spool file for large uploads is deleted when the request ends).
    data = upload.read()
    if b"%PDF-" not in data[:1024]:  # ISO 32000: the header is near the start of the file
        return render("public/verify.html", 422, error="verify.not_pdf")
    try:
        rt = signing_runtime()
        trust, revinfo = store_sources(rt.config)
        report = verify_pdf(trust, revinfo, rt.clock, data, pool=rt.pdf_pool)
    except DocumentTooComplexError:
        return render("public/verify.html", 413, error="verify.too_complex")
    except PdfWorkersBusyError:
        return render("public/verify.html", 503, error="verify.busy")
    except Exception:
        # The page depends only on verify_pdf's documented interface, which names no
        # exception; whatever it raises for an unreadable upload, the visitor gets an answer.
        current_app.logger.warning("verify page: upload could not be verified", exc_info=True)
        return render("public/verify.html", 422, error="verify.failed")
    return render(
        "public/verify.html",
        report=report,
        file_name=upload.filename,
        file_sha256=hashlib.sha256(data).hexdigest(),
    )


@bp.route("/passphrase", methods=["GET", "POST"])
def passphrase() -> tuple[str, int]:
    """The signer chooses their own signing passphrase with the enrolment code sent to them
    (signing_api.enrolment). No one else ever sees it; neither page nor log echoes it."""
    if request.method == "GET":
        return render("public/passphrase.html")
    if not csrf_ok():
        return render_error("csrf.failed", 400)
    f = request.form
    try:
        sub = enrolment.redeem(
            runtime().store,
            f.get("code", ""),
            f.get("passphrase", ""),
            f.get("repeat", ""),
            clock=runtime().clock,
        )
    except enrolment.EnrolmentError as ex:
        return render("public/passphrase.html", 400, error=f"pass.bad_{ex.field}")
    return render("public/passphrase.html", done=True, name=sub.name)


@bp.get("/repository")
def repository() -> tuple[str, int]:
    rows = []
    for ca in dashboard.cas(runtime().store):
        cert = x509.load_der_x509_certificate(ca.certificate_der or b"")
        rows.append(
            {
                "name": ca.name,
                "root": ca.parent_id is None,
                "subject": cert.subject.rfc4514_string(),
                "not_before": cert.not_valid_before_utc,
                "not_after": cert.not_valid_after_utc,
                "fingerprint": ":".join(
                    f"{b:02X}" for b in hashlib.sha256(ca.certificate_der or b"").digest()
                ),
            }
        )
    return render(
        "public/repository.html",
        cas=rows,
        base_url=runtime().config.public_base_url,
        tl=_trusted_list(),
    )


def _trusted_list() -> dict[str, object] | None:
    """The published trusted list's JSON form (ca_core.trusted_list), or None if none yet."""
    import json

    from ca_core.trusted_list import public_dir

    path = public_dir(runtime().config.data_path) / "tl.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@bp.get("/tl/")
def trusted_list_page() -> tuple[str, int]:
    """The PSrE Induk's national trusted list: who is recognized, and the signed files."""
    tl = _trusted_list()
    return render("public/trusted_list.html", 200 if tl else 404, tl=tl)


@bp.get("/tl/<any('tl.xml', 'tl.json'):name>")
def trusted_list_file(name: str) -> Response:
    from ca_core.trusted_list import public_dir

    path = public_dir(runtime().config.data_path) / name
    try:
        body = path.read_bytes()
    except OSError:
        return Response("no trusted list published yet\n", 404, mimetype="text/plain")
    kind = "application/vnd.etsi.tsl+xml" if name.endswith(".xml") else "application/json"
    resp = Response(body, 200, mimetype=kind)
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/status")
def status() -> tuple[str, int]:
    return render("public/status.html", **status_context())


def status_context() -> dict[str, Any]:
    """What both the status page and the dashboard show about freshness and health."""
    rt = runtime()
    now = rt.clock()
    try:
        hsm = rt.backend.health()
    except Exception as ex:
        hsm = {"ok": False, "error": type(ex).__name__}
    db = rt.store.ping()
    ocsp_served = any(rule.rule.startswith("/ocsp") for rule in current_app.url_map.iter_rules())
    return {
        "now": now,
        "crls": dashboard.crl_freshness(rt.store, now) if db.get("ok") else [],
        "ocsp_served": ocsp_served,
        "ocsp": dashboard.ocsp_freshness(rt.store, now) if db.get("ok") else [],
        "hsm": hsm,
        "db": db,
    }
