"""Flask application factory for ``psre serve`` (and gunicorn in production)."""

from __future__ import annotations

import time

from flask import Flask, jsonify

from ca_core import __version__
from ca_core.config import Config, load_config
from ca_core.runtime import Runtime
from psre.services import Services
from signing_api.app_runtime import runtime
from signing_api.edge import bounded_int_converter, check_request_texts
from signing_api.errors import register_error_handlers


def create_app(config: Config | None = None) -> Flask:
    cfg = config or load_config()
    app = Flask("psre")
    app.url_map.converters["int"] = bounded_int_converter()
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024  # largest PDF we accept, plus forms
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["psre"] = Services(cfg)
    register_error_handlers(app)
    # NUL and lone surrogates are no field's value anywhere (signing_api.edge).
    app.before_request(check_request_texts)
    from signing_api.repository import bp as repository

    app.register_blueprint(repository)
    from signing_api.tsa import bp as tsa

    app.register_blueprint(tsa)
    from crl.http import bp as crl_bp

    app.register_blueprint(crl_bp)
    from signing_api.esign_api import register as register_esign

    register_esign(app)
    from signing_api.csc.api import register as register_csc

    register_csc(app)
    from web import register as register_web

    register_web(app)
    from ocsp.http import register as register_ocsp

    register_ocsp(app)

    @app.get("/healthz")
    def healthz():
        """Liveness and readiness: the token and the database, each with its own verdict."""
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


def _endpoint_of(app: Flask):
    """The metrics label of a request: its route template, never the raw path (ids, base64)."""
    from werkzeug.exceptions import HTTPException

    def endpoint(environ: dict) -> str:
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
            out[key] = check(rt.store, limit).report()
        except Exception as ex:
            out[key] = {"ok": False, "error": type(ex).__name__}
    return out
