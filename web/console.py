"""The operator console (/console): sign-in, dashboard, certificates, subscribers, client apps,
audit log, operators. Each view names the permission it needs (web.operators.PERMISSIONS)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, g, redirect, request
from flask.typing import ResponseReturnValue

from ca_core import audit_objects
from ca_core.app_runtime import runtime
from ca_core.approvals import approve, describe, list_proposals, propose, reject
from ca_core.ca_level import CA_LEVEL_PROFILES, is_ca_level_among
from ca_core.errors import CaError
from ca_core.names import REASONS
from ca_core.passwords import hash_secret
from ca_core.store.certificate_search import CertificateSearch
from ca_core.store.client_admin import ClientReads
from ca_core.store.models import SUBSCRIBER_STATUSES, Certificate, Subscriber
from ca_core.subscribers import Enrolment, set_status
from signing_api.activation import api_status
from signing_api.edge import EdgeError
from signing_api.enrolment import Invitation, enrol_and_invite
from signing_api.enrolment import reset as reset_activation
from signing_api.esign_common import notifier
from web import dashboard, lookup
from web.approval_actions import executors
from web.clients import create_client, list_clients, set_client_enabled
from web.i18n import translate
from web.operators import (
    LoginThrottled,
    add_operator,
    check_new_operator,
    list_operators,
    login,
    logout,
    operator_role,
    session_for,
    set_enabled,
)
from web.public import status_context
from web.render import render, render_error
from web.security import SESSION_COOKIE, csrf_ok, requires, set_cookie
from web.subscriber_admin import get_subscriber

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")


@bp.errorhandler(EdgeError)
def _edge(_ex: EdgeError) -> tuple[str, int]:
    """A value refused at the edge (signing_api.edge): this site's own error page."""
    return render_error("input.invalid", 400)


#: Reasons an RA officer can give for a final revocation (a hold is the "suspend" action).
REVOKE_REASONS = tuple(r for r in REASONS if r != "certificateHold")
ACTIONS = ("revoke", "suspend", "release")
AUDIT_PAGE = 50
#: Pages beyond this hold nothing any log will have; the bound keeps the offset a small number.
MAX_AUDIT_PAGE = 10**7


@bp.before_request
def _load_session() -> ResponseReturnValue | None:
    rt = runtime()
    token = request.cookies.get(SESSION_COOKIE)
    g.session = session_for(rt.store, rt.config.web, token, clock=rt.clock) if token else None
    if request.endpoint == "console.login_page":
        if request.method == "POST" and not csrf_ok():
            return render_error("csrf.failed", 400)
        return None
    if g.session is None:
        target = "/console/login" + ("?expired=1" if token else "")
        resp = redirect(target)
        if token:
            resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp
    if request.method == "POST" and not csrf_ok():
        return render_error("csrf.failed", 400)
    return None


def _actor() -> str:
    return g.session.operator.name


# --- sign-in -------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login_page() -> ResponseReturnValue:
    if request.method == "GET":
        if g.session is not None:
            return redirect("/console/")
        message = "login.expired" if request.args.get("expired") else None
        return render("console/login.html", message=message)
    rt = runtime()
    name = request.form.get("name", "")
    try:
        result = login(
            rt.store,
            rt.config.web,
            name,
            request.form.get("password", ""),
            remote_addr=request.remote_addr or "?",
            clock=rt.clock,
        )
    except LoginThrottled:
        return render("console/login.html", 429, message="login.throttled", name=name)
    if result.token is None:
        return render("console/login.html", 401, message="login.failed", name=name)
    resp = redirect("/console/")
    set_cookie(resp, SESSION_COOKIE, result.token, max_age=rt.config.web.session_max_hours * 3600)
    return resp


@bp.post("/logout")
def logout_page() -> Response:
    logout(runtime().store, request.cookies.get(SESSION_COOKIE, ""), actor=_actor())
    resp = redirect("/console/login")
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp  # type: ignore[return-value]


# --- dashboard -----------------------------------------------------------------------------


@bp.get("/")
@requires("dashboard.view")
def dashboard_page() -> tuple[str, int]:
    store = runtime().store
    certs, subs = dashboard.counts(store)
    now = runtime().clock()
    series = dashboard.daily(store, now)
    chart = dashboard.chart_svg(series, (translate("dash.issued"), translate("dash.signed")))
    return render(
        "console/dashboard.html",
        cert_counts=certs,
        sub_counts=subs,
        chart=chart,
        **status_context(),
    )


# --- certificates --------------------------------------------------------------------------


@bp.get("/certificates")
@requires("certificate.view")
def certificates() -> tuple[str, int]:
    q = request.args.get("q", "")
    return render("console/certificates.html", q=q, rows=lookup.search(runtime().store, q))


def _cert_or_404(cert_id: int) -> tuple[Certificate, str, Subscriber | None] | None:
    return lookup.get(runtime().store, cert_id)


@bp.get("/certificates/<int:cert_id>")
@requires("certificate.view")
def certificate(cert_id: int, message: str | None = None, status: int = 200) -> tuple[str, int]:
    found = _cert_or_404(cert_id)
    if found is None:
        return render_error("cert.none", 404)
    cert, ca, sub = found
    return render(
        "console/certificate.html",
        status,
        cert=cert,
        ca=ca,
        sub=sub,
        decoded=lookup.decode(cert.der),
        reasons=REVOKE_REASONS,
        message=message,
        ca_level=_ca_level(cert),
    )


def _ca_level(cert: Certificate) -> bool:
    """A CA's, the OCSP responder's or the TSA's certificate: never changed by the RA."""
    return is_ca_level_among(cert, runtime().store.list_cas())


@bp.get("/certificates/<int:cert_id>.<fmt>")
@requires("certificate.view")
def certificate_download(cert_id: int, fmt: str) -> object:
    found = _cert_or_404(cert_id)
    if found is None or fmt not in ("pem", "der"):
        return render_error("cert.none", 404)
    cert = found[0]
    if fmt == "der":
        body, mime = cert.der, "application/pkix-cert"
    else:
        pem = x509.load_der_x509_certificate(cert.der).public_bytes(serialization.Encoding.PEM)
        body, mime = pem, "application/x-pem-file"
    resp = Response(body, mimetype=mime)
    ext = "cer" if fmt == "der" else "pem"
    resp.headers["Content-Disposition"] = f'attachment; filename="{cert.serial_hex}.{ext}"'
    return resp


def _requested_change() -> tuple[str, str | None] | None:
    action = request.form.get("action", "")
    reason = request.form.get("reason") or None
    if action not in ACTIONS:
        return None
    if action == "revoke" and reason not in REVOKE_REASONS:
        return None
    return action, (reason if action == "revoke" else None)


@bp.post("/certificates/<int:cert_id>/confirm")
@requires("certificate.change")
def certificate_confirm(cert_id: int) -> tuple[str, int]:
    found = _cert_or_404(cert_id)
    if found is None:
        return render_error("cert.none", 404)
    if _ca_level(found[0]):
        return render_error("cert.ca_level", 403)
    change = _requested_change()
    if change is None:
        return certificate(cert_id, message="error", status=400)
    cert, ca, sub = found
    return render(
        "console/confirm.html", cert=cert, ca=ca, sub=sub, action=change[0], reason=change[1]
    )


@bp.post("/certificates/<int:cert_id>/status")
@requires("certificate.change")
def certificate_status(cert_id: int) -> tuple[str, int]:
    found = _cert_or_404(cert_id)
    change = _requested_change()
    if found is None:
        return render_error("cert.none", 404)
    if _ca_level(found[0]):
        # The Revoker refuses it too; answering 403 here says the RA may not even ask.
        return render_error("cert.ca_level", 403)
    if change is None or request.form.get("confirm") != "yes":
        return certificate(cert_id, message="error", status=400)
    cert, ca, _sub = found
    revoker = runtime().revoker
    action, reason = change
    try:
        if action == "revoke":
            done = revoker.revoke(cert.serial_hex, reason or "unspecified", actor=_actor(), ca=ca)
        elif action == "suspend":
            done = revoker.suspend(cert.serial_hex, actor=_actor(), ca=ca)
        else:
            done = revoker.unsuspend(cert.serial_hex, actor=_actor(), ca=ca)
    except CaError as ex:
        return certificate(cert_id, message=str(ex), status=409)
    key = "cert.changed" if done.changed else "cert.unchanged"
    return certificate(cert_id, message=f"{translate(key)}: {translate('status.' + done.status)}")


# --- subscribers ---------------------------------------------------------------------------


@bp.route("/subscribers", methods=["GET", "POST"])
@requires("subscriber.view")
def subscribers() -> tuple[str, int]:
    store = runtime().store
    ctx: dict[str, object] = {}
    status = 200
    if request.method == "POST":
        from web.operators import allowed

        if not allowed(g.session.operator.role, "subscriber.change"):
            return render_error("forbidden", 403)
        f = request.form
        kind = f.get("kind", "person")
        e = Enrolment(
            name=f.get("name", "").strip(),
            email=f.get("email", "").strip(),
            nik=(f.get("nik") or "").strip() or None,
            agency=(f.get("agency") or "").strip() or None,
            organization_identifier=(f.get("org_id") or "").strip() or None,
            kind=kind,
        )
        try:
            sub, _ = enrol_and_invite(
                store, notifier(), e, _invitation(), actor=_actor(), clock=runtime().clock
            )
            ctx = {"registered": sub}
        except CaError as ex:
            ctx, status = {"error": str(ex), "form": f}, 400
    subs = store.list_subscribers(limit=500)
    return render("console/subscribers.html", status, subs=subs, **ctx)


@bp.get("/subscribers/<int:sub_id>")
@requires("subscriber.view")
def subscriber(sub_id: int, **ctx: object) -> tuple[str, int]:
    store = runtime().store
    sub = get_subscriber(store, sub_id)
    if sub is None:
        return render_error("sub.none", 404)
    certs = CertificateSearch(store).of_subscriber(sub_id)
    status = int(ctx.pop("status", 200))  # type: ignore[call-overload]
    return render(
        "console/subscriber.html",
        status,
        sub=sub,
        certs=certs,
        statuses=SUBSCRIBER_STATUSES,
        can_sign=api_status(
            store, sub, clock=runtime().clock
        ).status,  # LOCKED too, when locked for every app
        **ctx,
    )


@bp.post("/subscribers/<int:sub_id>/status")
@requires("subscriber.change")
def subscriber_status(sub_id: int) -> tuple[str, int]:
    store = runtime().store
    sub = get_subscriber(store, sub_id)
    if sub is None:
        return render_error("sub.none", 404)
    try:
        key = sub.nik or sub.organization_identifier or ""
        set_status(store, key, request.form.get("status", ""), actor=_actor())
    except CaError as ex:
        return subscriber(sub_id, error=str(ex), status=400)
    return subscriber(sub_id, message="sub.status_changed")


@bp.post("/subscribers/<int:sub_id>/reset")
@requires("subscriber.change")
def subscriber_reset(sub_id: int) -> tuple[str, int]:
    store = runtime().store
    sub = get_subscriber(store, sub_id)
    if sub is None:
        return render_error("sub.none", 404)
    reset_activation(store, notifier(), sub, _invitation(), actor=_actor(), clock=runtime().clock)
    return subscriber(sub_id, message="sub.reset_done")


def _invitation() -> Invitation:
    return Invitation.from_config(runtime().config)


# --- client applications -------------------------------------------------------------------


@bp.route("/clients", methods=["GET", "POST"])
@requires("client.manage")
def clients() -> tuple[str, int]:
    store = runtime().store
    ctx: dict[str, object] = {}
    status = 200
    if request.method == "POST":
        try:
            new = create_client(
                store,
                request.form.get("name", ""),
                request.form.get("username", ""),
                actor=_actor(),
            )
            ctx = {"created": new.client, "secret": new.secret}
        except CaError as ex:
            ctx, status = {"error": str(ex)}, 400
    return render("console/clients.html", status, clients=list_clients(store), **ctx)


@bp.post("/clients/<int:client_id>/disable")
@requires("client.manage")
def client_disable(client_id: int) -> object:
    try:
        set_client_enabled(runtime().store, client_id, False, actor=_actor())
    except CaError:
        return render_error("client.none", 404)
    return redirect("/console/clients")


@bp.post("/clients/<int:client_id>/enable")
@requires("client.manage")
def client_enable(client_id: int) -> object:
    """Re-enabling a client app (disabled for a reason) waits for a second admin."""
    client = ClientReads(runtime().store).by_id(client_id)
    if client is None:
        return render_error("client.none", 404)
    return _propose("client.enable", audit_objects.client(client.username), {"id": client_id})


# --- audit log -----------------------------------------------------------------------------


@bp.route("/audit", methods=["GET", "POST"])
@requires("audit.view")
def audit() -> tuple[str, int]:
    log = runtime().store.audit
    action = request.args.get("action", "").strip() or None
    actor = request.args.get("actor", "").strip() or None
    raw = request.args.get("page", "1")
    page = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0
    if not 1 <= page <= MAX_AUDIT_PAGE:
        return render_error("input.invalid", 400)
    events = log.list(
        limit=AUDIT_PAGE + 1, offset=(page - 1) * AUDIT_PAGE, action=action, actor=actor
    )
    verified = log.verify() if request.method == "POST" else None
    return render(
        "console/audit.html",
        events=events[:AUDIT_PAGE],
        has_more=len(events) > AUDIT_PAGE,
        page=page,
        action=action or "",
        actor=actor or "",
        verified=verified,
    )


# --- operators -----------------------------------------------------------------------------


@bp.route("/operators", methods=["GET", "POST"])
@requires("operator.manage")
def operators() -> tuple[str, int]:
    store = runtime().store
    ctx: dict[str, object] = {}
    status = 200
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        role = request.form.get("role", "")
        password = request.form.get("password", "")
        try:
            if role == "admin":
                # A new admin can approve CA-level changes: a second admin must agree. The
                # proposal keeps only the password's hash while it waits.
                check_new_operator(name, role, password)
                if operator_role(store, name) is not None:
                    raise CaError(f"operator {name} already exists")
                propose(
                    store,
                    "operator.add_admin",
                    audit_objects.operator(name),
                    {"password_hash": hash_secret(password)},
                    actor=_actor(),
                    ttl=_approval_ttl(),
                    now=runtime().clock(),
                )
                ctx = {"message": "approval.proposed"}
            else:
                add_operator(store, name, role, password, actor=_actor())
                ctx = {"message": "op.added"}
        except CaError as ex:
            ctx, status = {"error": str(ex)}, 400
    return render("console/operators.html", status, operators=list_operators(store), **ctx)


@bp.post("/operators/<name>/disable")
@requires("operator.manage")
def operator_disable(name: str) -> object:
    if operator_role(runtime().store, name) == "admin":
        return _propose("operator.disable_admin", audit_objects.operator(name), {})
    try:
        set_enabled(runtime().store, name, False, actor=_actor(), clock=runtime().clock)
    except CaError as ex:
        return render(
            "console/operators.html", 400, operators=list_operators(runtime().store), error=str(ex)
        )
    return redirect("/console/operators")


# --- dual control (approvals) -------------------------------------------------------------


def _approval_ttl() -> dt.timedelta:
    return dt.timedelta(minutes=runtime().config.web.approval_minutes)


def _propose(action: str, target: str, params: dict[str, object]) -> tuple[str, int]:
    try:
        propose(
            runtime().store,
            action,
            target,
            params,
            actor=_actor(),
            ttl=_approval_ttl(),
            now=runtime().clock(),
        )
    except CaError as ex:
        return approvals_page(error=str(ex), status=400)
    return approvals_page(message="approval.proposed")


def _ca_level_certificates() -> list[tuple[Certificate, str]]:
    store = runtime().store
    names = {ca.id: ca.name for ca in store.list_cas()}
    rows = CertificateSearch(store).with_profiles(CA_LEVEL_PROFILES)
    return [(c, names.get(c.issuer_id, "?")) for c in rows]


def approvals_page(
    message: str | None = None, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    return render(
        "console/approvals.html",
        status,
        proposals=list_proposals(runtime().store),
        certificates=_ca_level_certificates(),
        reasons=REVOKE_REASONS,
        describe=describe,
        now=runtime().clock(),
        message=message,
        error=error,
    )


@bp.route("/approvals", methods=["GET", "POST"])
@requires("approval.manage")
def approvals() -> tuple[str, int] | object:
    """Pending proposals, and the form to propose a CA-level certificate's status change."""
    if request.method == "GET":
        return approvals_page()
    action = request.form.get("action", "")
    reason = request.form.get("reason") or None
    try:
        cert_id = int(request.form.get("certificate", ""))
    except ValueError:
        return approvals_page(error="certificate?", status=400)
    found = _cert_or_404(cert_id)
    if found is None or action not in ACTIONS or not _ca_level(found[0]):
        return approvals_page(error=translate("approval.bad"), status=400)
    if action == "revoke" and reason not in REVOKE_REASONS:
        return approvals_page(error=translate("approval.bad"), status=400)
    cert, ca, _sub = found
    params: dict[str, object] = {"reason": reason} if action == "revoke" else {}
    return _propose(f"certificate.{action}", audit_objects.certificate(ca, cert.serial_hex), params)


@bp.post("/approvals/<int:proposal_id>/approve")
@requires("approval.manage")
def approval_approve(proposal_id: int) -> tuple[str, int]:
    rt = runtime()
    try:
        done = approve(
            rt.store,
            proposal_id,
            actor=_actor(),
            executors=executors(rt.store, rt.revoker),
            now=rt.clock(),
        )
    except CaError as ex:  # own proposal, expired, decided already, or the change failed
        return approvals_page(error=str(ex), status=409)
    return approvals_page(message=done.outcome or "approval.approved")


@bp.post("/approvals/<int:proposal_id>/reject")
@requires("approval.manage")
def approval_reject(proposal_id: int) -> tuple[str, int]:
    try:
        reject(runtime().store, proposal_id, actor=_actor(), now=runtime().clock())
    except CaError as ex:
        return approvals_page(error=str(ex), status=409)
    return approvals_page(message="approval.rejected")
