"""One mapping from errors to HTTP answers: JSON with a code, never a traceback."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ca_core.errors import CaError, ConfigError, NotFoundError, StoreUnavailableError
from hsm.errors import HsmError
from signing_api.edge import EdgeError


class ApiError(Exception):
    """An error answer of the API: HTTP status, machine code and a human message."""

    def __init__(self, status: int, code: str | int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(ex: ApiError):
        return jsonify({"error": {"code": ex.code, "message": ex.message}}), ex.status

    @app.errorhandler(HTTPException)
    def _http(ex: HTTPException):
        if _is_api():
            # Routing errors (404, 405) come before any blueprint is chosen: /api answers in
            # the e-sign API's own shape all the same.
            from signing_api.esign_errors import http_error

            return http_error(ex)
        code = (ex.name or "error").lower().replace(" ", "_")
        resp = jsonify({"error": {"code": code, "message": ex.description}})
        resp.status_code = ex.code or 500
        for name, value in ex.get_headers():
            if name.lower() == "allow":  # RFC 9110 §15.5.6: a 405 says what is allowed
                resp.headers[name] = value
        return resp

    @app.errorhandler(EdgeError)
    def _edge(ex: EdgeError):
        if _is_api():
            from signing_api.esign_errors import INVALID_FORMAT, EsignError

            return EsignError(INVALID_FORMAT, str(ex)).response()
        return jsonify({"error": {"code": "invalid_input", "message": str(ex)}}), 400

    @app.errorhandler(NotFoundError)
    def _not_found(ex: NotFoundError):
        return jsonify({"error": {"code": ex.code, "message": str(ex)}}), 404

    @app.errorhandler(StoreUnavailableError)
    def _store_down(ex: StoreUnavailableError):
        # A database outage (or failover) is the server's and passes: 503, never 400.
        app.logger.error("database unavailable: %s", ex)
        resp = jsonify({"error": {"code": ex.code, "message": "the database is unavailable"}})
        resp.status_code = 503
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(CaError)
    def _ca(ex: CaError):
        status = 500 if isinstance(ex, ConfigError) else 400
        return jsonify({"error": {"code": ex.code, "message": str(ex)}}), status

    @app.errorhandler(HsmError)
    def _hsm(ex: HsmError):
        app.logger.error("HSM error: %s", ex)
        return jsonify({"error": {"code": ex.code, "message": "the key store is unavailable"}}), 503


def _is_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")
