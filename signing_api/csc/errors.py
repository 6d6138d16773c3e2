"""CSC errors: ``{"error": ..., "error_description": ...}`` with 400, 401 or 404 (and 5xx for
the server's own faults). Errors raised by the e-sign machinery this service reuses
(activation, lockout, signer checks) are translated here, so both APIs share one behaviour
with each its own shape."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from werkzeug.exceptions import HTTPException

from ca_core.errors import CaError, ConfigError, StoreError
from hsm.errors import HsmError
from signing_api import esign_errors as e
from signing_api.edge import EdgeError

log = logging.getLogger(__name__)

INVALID_REQUEST = "invalid_request"
INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error name
INVALID_PIN = "invalid_pin"
INVALID_OTP = "invalid_otp"
ACCESS_DENIED = "access_denied"
NOT_FOUND = "not_found"
SERVER_ERROR = "server_error"
UNAVAILABLE = "temporarily_unavailable"

#: error -> (HTTP status, meaning); published in the OpenAPI document.
CODES: dict[str, tuple[int, str]] = {
    INVALID_REQUEST: (
        400,
        "a parameter is missing or wrong; also a SAD that is unknown, spent, expired, of "
        "another app or credential, or for other hashes, and a credential that cannot sign",
    ),
    INVALID_TOKEN: (401, "bearer token missing, unknown, expired or revoked; or bad Basic"),
    INVALID_PIN: (400, "wrong PIN (the signer's passphrase / the agency's seal activation)"),
    INVALID_OTP: (400, "wrong, spent or expired one-time code"),
    ACCESS_DENIED: (400, "the signer is locked after repeated failures ('locked_until')"),
    NOT_FOUND: (404, "no such CSC method"),
    SERVER_ERROR: (500, "internal error (details in the server log)"),
    UNAVAILABLE: (503, "the key store or the database is unavailable"),
}


class CscError(Exception):
    def __init__(
        self, error: str, description: str, *, status: int | None = None, **extra: Any
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status or CODES[error][0]
        self.extra = extra

    def response(self) -> Response:
        resp = jsonify({"error": self.error, "error_description": self.description, **self.extra})
        resp.status_code = self.status
        if self.status == 405:
            resp.headers["Allow"] = "POST"
        if resp.status_code == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="psre CSC"'
        return resp


def invalid(name: str, why: str = "") -> CscError:
    return CscError(INVALID_REQUEST, f"Invalid parameter {name}" + (f": {why}" if why else ""))


def missing(name: str) -> CscError:
    return CscError(INVALID_REQUEST, f"Missing (or invalid type) parameter {name}")


def from_esign(ex: e.EsignError, method: str = "PIN") -> CscError:
    """The CSC answer for an e-sign error (same checks, CSC's shape)."""
    if ex.extra.get("locked"):
        return CscError(
            ACCESS_DENIED,
            "the signer is locked after repeated wrong PINs/OTPs/SADs",
            locked_until=ex.extra.get("locked_until"),
        )
    if ex.code == e.WRONG_ACTIVATION:
        error = {"PIN": INVALID_PIN, "OTP": INVALID_OTP}.get(method, INVALID_REQUEST)
        what = method if error == INVALID_REQUEST else f"the {method}"
        left = ex.extra.get("attempts_left")
        extra = {"attempts_left": left} if left is not None else {}
        return CscError(error, f"Invalid {what}", **extra)
    if ex.code == e.NOT_REGISTERED:
        return invalid("credentialID", "no such signer")
    if ex.code in (e.CANNOT_SIGN, e.ISSUER_NOT_GOOD):
        return CscError(INVALID_REQUEST, f"the credential cannot sign: {ex.message}")
    if ex.code == e.UNAUTHORIZED:
        return CscError(INVALID_TOKEN, ex.message)
    if ex.code == e.RATE_LIMITED:
        return CscError(INVALID_REQUEST, ex.message, retry_after=ex.extra.get("retry_after"))
    if ex.status >= 500:
        return CscError(SERVER_ERROR if ex.status == 500 else UNAVAILABLE, ex.message)
    return CscError(INVALID_REQUEST, ex.message)


def register_handlers(bp: Blueprint) -> None:
    """Every error of the CSC blueprint in CSC's shape, never an HTML page or a traceback."""

    @bp.errorhandler(CscError)
    def _csc(ex: CscError) -> Response:
        return ex.response()

    @bp.errorhandler(e.EsignError)
    def _esign(ex: e.EsignError) -> Response:
        return from_esign(ex).response()

    @bp.errorhandler(EdgeError)
    def _edge(ex: EdgeError) -> Response:
        return CscError(INVALID_REQUEST, str(ex)).response()

    @bp.errorhandler(HTTPException)
    def _http(ex: HTTPException) -> Response:
        status = ex.code or 500
        if status == 404:
            return CscError(NOT_FOUND, "no such CSC method").response()
        if status >= 500:
            return CscError(SERVER_ERROR, "internal error").response()
        return CscError(INVALID_REQUEST, ex.description or ex.name).response()

    @bp.errorhandler(StoreError)
    def _store(ex: StoreError) -> Response:
        log.error("database error: %s", ex)
        return CscError(UNAVAILABLE, "the database is unavailable").response()

    @bp.errorhandler(HsmError)
    def _hsm(ex: HsmError) -> Response:
        log.error("HSM error: %s", ex)
        return CscError(UNAVAILABLE, "the key store is unavailable").response()

    @bp.errorhandler(ConfigError)
    def _config(ex: ConfigError) -> Response:
        log.error("configuration error: %s", ex)
        return CscError(SERVER_ERROR, "the server is not configured to do this").response()

    @bp.errorhandler(CaError)
    def _ca(ex: CaError) -> Response:
        return CscError(INVALID_REQUEST, str(ex)).response()

    @bp.errorhandler(Exception)
    def _any(ex: Exception) -> Response:
        log.exception("unexpected error in the CSC API")
        return CscError(SERVER_ERROR, "internal error").response()
