"""Flask application factory for ``psre serve`` (and gunicorn in production).

``role`` (``server.role``, ``psre serve --role``) decides what the app serves:

* ``public``: the CA certificates, CRLs, pre-signed OCSP (never a live signature), the
  repository, CP/CPS, status and verify pages, /healthz — with no PKCS#11 module loaded and the
  read-only store face. Everything else is 404.
* ``signing`` and ``all``: everything (the APIs, console, TSA and live OCSP too); ``all`` is
  what ``psre serve`` runs with its refresher on a single host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from ca_core import __version__
from ca_core.app_runtime import runtime
from ca_core.config import SERVER_ROLES, Config, load_config
from ca_core.runtime import Runtime
from psre.services import Services
from signing_api.edge import bounded_int_converter, check_request_texts
from signing_api.errors import register_error_handlers


def create_app(config: Config | None = None, role: str | None = None) -> Flask:
    cfg = config or load_config()
    role = role or cfg.server.role
    if role not in SERVER_ROLES:
        raise ValueError(f"unknown server role {role!r}")
    public = role == "public"
    app = Flask("psre")
    app.url_map.converters["int"] = bounded_int_converter()
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024  # largest PDF we accept, plus forms
    app.json.sort_keys = False  # type: ignore[attr-defined]
    services = Services(cfg, public=public)
    app.extensions["psre"] = services
    app.extensions["psre_role"] = role
    register_error_handlers(app)
    # NUL and lone surrogates are no field's value anywhere (signing_api.edge).
    app.before_request(check_request_texts)
    from signing_api.repository import bp as repository

    app.register_blueprint(repository)
    from crl.http import bp as crl_bp

    app.register_blueprint(crl_bp)
    if not public:
        from signing_api.tsa import bp as tsa

        app.register_blueprint(tsa)
        from signing_api.esign_api import register as register_esign

        register_esign(app)
        from signing_api.csc.api import register as register_csc

        register_csc(app)
    from web import register as register_web

    register_web(app, console=not public)
    if public:
        app.before_request(_public_only)
    from ocsp.http import register as register_ocsp

    register_ocsp(app, services.ocsp_responder)

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        """Liveness and readiness: the token (not in the public role) and the database, each
        with its own verdict, and the role this server plays."""
        rt = runtime()
        t0 = time.perf_counter()
        hsm = rt.backend.health()
        try:
            db = rt.store.ping()
        except Exception as ex:  # report, don't raise: this page exists to say what is wrong
            db = {"ok": False, "error": type(ex).__name__}
        fresh = _freshness(rt) if db.get("ok") else {}
        ok = bool(hsm.get("ok")) and bool(db.get("ok"))
        ok = ok and all(f.get("ok") for f in fresh.values())
        body = {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "role": role,
            "hsm": hsm,
            "database": db,
            **fresh,
            "elapsed_ms": round((time.perf_counter() - t0) * 1000, 2),
        }
        return jsonify(body), 200 if ok else 503

    if cfg.server.trusted_proxies:
        # Only as many X-Forwarded-* hops as there are proxies of ours: a client cannot claim
        # another address by sending the header itself.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = cfg.server.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    from ca_core.metrics import HttpMetrics

    app.wsgi_app = HttpMetrics(app.wsgi_app, _endpoint_of(app))  # type: ignore[method-assign]
    return app


#: Routes of the public blueprint that write or need the signing side: not on a public server.
_SIGNING_SIDE_ENDPOINTS = frozenset({"public.passphrase"})


def _public_only() -> None:
    """A public server answers 404 for the few signing-side pages the public blueprint holds
    (choosing a signing passphrase writes to the database)."""
    if request.endpoint in _SIGNING_SIDE_ENDPOINTS:
        abort(404)


def _endpoint_of(app: Flask) -> Callable[[dict[str, Any]], str]:
    """The metrics label of a request: its route template, never the raw path (ids, base64)."""
    from werkzeug.exceptions import HTTPException

    def endpoint(environ: dict[str, Any]) -> str:
        path = environ.get("PATH_INFO", "")
        if path == "/ocsp" or path.startswith("/ocsp/"):
            return "/ocsp"
        try:
            rule, _args = app.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:
            return "unmatched"
        return rule.rule

    return endpoint


def _freshness(rt: Runtime) -> dict[str, dict[str, object]]:
    """Pre-signed OCSP responses and CRLs, each with its verdict (see ca_core.freshness)."""
    from ca_core.freshness import crl_freshness, ocsp_freshness

    out: dict[str, dict[str, object]] = {}
    checks = (
        ("ocsp_responses", ocsp_freshness, rt.config.ocsp.health_stale_fraction),
        ("crls", crl_freshness, rt.config.crl.health_stale_fraction),
    )
    for key, check, limit in checks:
        try:
            out[key] = check(rt.store, limit, clock=rt.clock).report()
        except Exception as ex:
            out[key] = {"ok": False, "error": type(ex).__name__}
    return out
