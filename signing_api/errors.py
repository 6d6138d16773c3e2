"""One mapping from errors to HTTP answers: JSON with a code, never a traceback."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ca_core.errors import CaError, ConfigError, NotFoundError
from hsm.errors import HsmError


class ApiError(Exception):
    """An error answer of the API: HTTP status, machine code and a human message."""

    def __init__(self, status: int, code: str | int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(ex: ApiError):  # noqa: ANN202
        return jsonify({"error": {"code": ex.code, "message": ex.message}}), ex.status

    @app.errorhandler(HTTPException)
    def _http(ex: HTTPException):  # noqa: ANN202
        code = (ex.name or "error").lower().replace(" ", "_")
        return jsonify({"error": {"code": code, "message": ex.description}}), ex.code or 500

    @app.errorhandler(NotFoundError)
    def _not_found(ex: NotFoundError):  # noqa: ANN202
        return jsonify({"error": {"code": ex.code, "message": str(ex)}}), 404

    @app.errorhandler(CaError)
    def _ca(ex: CaError):  # noqa: ANN202
        status = 500 if isinstance(ex, ConfigError) else 400
        return jsonify({"error": {"code": ex.code, "message": str(ex)}}), status

    @app.errorhandler(HsmError)
    def _hsm(ex: HsmError):  # noqa: ANN202
        app.logger.error("HSM error: %s", ex)
        return jsonify({"error": {"code": ex.code, "message": "the key store is unavailable"}}), 503
