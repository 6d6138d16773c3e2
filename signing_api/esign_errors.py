"""Errors of the e-sign API (BSrE-compatible): ``{"status_code": N, "error": "..."}`` + 4xx.

The codes 2011, 2031, 4014, 4015, 4024 and 4044 are the ones client libraries already know
(reference: bsre-esign-api.md). Where the reference is silent we chose codes of the same shape;
every one is listed in :data:`CODES` and in the OpenAPI document. Messages never carry a
passphrase, a TOTP, a client secret or a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from werkzeug.exceptions import HTTPException

from ca_core.errors import CaError, ConfigError, NotFoundError, StoreError
from hsm.errors import HsmError
from signing_api.edge import EdgeError

log = logging.getLogger(__name__)

NOT_REGISTERED = 2011
CANNOT_SIGN = 2021
ISSUER_NOT_GOOD = 2022
WRONG_ACTIVATION = 2031
UNAUTHORIZED = 4010
MISSING_FIELD = 4014
INVALID_FORMAT = 4015
ALREADY_REGISTERED = 4024
NOT_FOUND = 4040
DOCUMENT_GONE = 4044
METHOD_NOT_ALLOWED = 4050
TOO_LARGE = 4130
TOO_COMPLEX = 4131
RATE_LIMITED = 4290
TOO_MANY_AT_ONCE = 4291
INTERNAL = 5000
KEY_STORE_DOWN = 5030
STORE_DOWN = 5031
PDF_WORKERS_BUSY = 5032

#: code -> (HTTP status, meaning); published in the OpenAPI document.
CODES: dict[int, tuple[int, str]] = {
    NOT_REGISTERED: (404, "signer not registered"),
    CANNOT_SIGN: (403, "signer may not sign: status is not ISSUE or no usable certificate"),
    ISSUER_NOT_GOOD: (
        403,
        "nothing is signed: a CA above the certificate (issuing CA, root) or the TSA's is "
        "revoked, suspended or expired; 'ca' and 'ca_status' say which and how",
    ),
    WRONG_ACTIVATION: (400, "wrong passphrase/TOTP; 423 with 'locked' while locked out"),
    UNAUTHORIZED: (401, "client application credentials missing, wrong or disabled"),
    MISSING_FIELD: (400, "a required field is missing"),
    INVALID_FORMAT: (400, "a field has an invalid format (also: not a PDF, corrupt PDF)"),
    ALREADY_REGISTERED: (409, "NIK already registered"),
    NOT_FOUND: (404, "no such endpoint or document"),
    DOCUMENT_GONE: (404, "file no longer available (already downloaded or expired)"),
    METHOD_NOT_ALLOWED: (405, "method not allowed"),
    TOO_LARGE: (413, "request body too large"),
    TOO_COMPLEX: (
        413,
        "document too complex: over the server's page, signature-field, time or memory budget",
    ),
    RATE_LIMITED: (429, "the client application's rate limit is exhausted"),
    TOO_MANY_AT_ONCE: (429, "too many verifications in progress from this client address"),
    INTERNAL: (500, "internal error (details in the server log, never in the answer)"),
    KEY_STORE_DOWN: (503, "the key store (HSM) is unavailable"),
    STORE_DOWN: (503, "the database is unavailable"),
    PDF_WORKERS_BUSY: (503, "every PDF worker is busy; retry shortly"),
}


class EsignError(Exception):
    """An error answer; ``extra`` adds hints such as ``locked``/``locked_until``."""

    def __init__(self, code: int, message: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or CODES[code][0]
        self.extra = extra

    def response(self) -> Response:
        resp = jsonify({"status_code": self.code, "error": self.message, **self.extra})
        resp.status_code = self.status
        if self.status == 401:
            resp.headers["WWW-Authenticate"] = 'Basic realm="psre e-sign API"'
        return resp


def missing(field: str) -> EsignError:
    return EsignError(MISSING_FIELD, f"{field} wajib diisi ({field} is required)")


def invalid(field: str, why: str) -> EsignError:
    return EsignError(INVALID_FORMAT, f"{field}: {why}")


_HTTP = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 413: TOO_LARGE}


def http_error(ex: HTTPException) -> Response:
    """werkzeug's HTTP errors in the API's shape; a 405 keeps its Allow header (RFC 9110
    §15.5.6), which building a new answer would otherwise drop."""
    status = ex.code or 500
    code = _HTTP.get(status, INVALID_FORMAT if status == 400 else INTERNAL)
    resp = EsignError(code, ex.description or ex.name, status=status).response()
    for name, value in ex.get_headers():
        if name.lower() in ("allow", "retry-after"):
            resp.headers[name] = value
    return resp


def register_esign_handlers(bp: Blueprint) -> None:
    """The answers of the API's blueprints: e-sign JSON for every error, never an HTML page."""

    @bp.errorhandler(EsignError)
    def _esign(ex: EsignError) -> Response:
        return ex.response()

    bp.errorhandler(HTTPException)(http_error)

    @bp.errorhandler(EdgeError)
    def _edge(ex: EdgeError) -> Response:
        return EsignError(INVALID_FORMAT, str(ex)).response()

    @bp.errorhandler(NotFoundError)
    def _not_found(ex: NotFoundError) -> Response:
        return EsignError(NOT_FOUND, str(ex)).response()

    @bp.errorhandler(StoreError)
    def _store(ex: StoreError) -> Response:
        log.error("database error: %s", ex)
        return EsignError(STORE_DOWN, "the database is unavailable").response()

    @bp.errorhandler(ConfigError)
    def _config(ex: ConfigError) -> Response:
        # A server fault (e.g. no valid TSA unit), not the client's: logged, answered 500.
        log.error("configuration error: %s", ex)
        return EsignError(INTERNAL, "the server is not configured to do this").response()

    @bp.errorhandler(HsmError)
    def _hsm(ex: HsmError) -> Response:
        log.error("HSM error: %s", ex)
        return EsignError(KEY_STORE_DOWN, "the key store is unavailable").response()

    @bp.errorhandler(CaError)
    def _ca(ex: CaError) -> Response:
        api_code = getattr(ex, "api_code", None)
        if isinstance(api_code, int) and api_code in CODES:
            return EsignError(api_code, str(ex), **getattr(ex, "api_extra", {})).response()
        return EsignError(INVALID_FORMAT, str(ex)).response()

    @bp.errorhandler(Exception)
    def _any(ex: Exception) -> Response:
        # Logged with its traceback for the operator; the client sees a code only.
        log.exception("unexpected error in the e-sign API")
        return EsignError(INTERNAL, "internal error").response()
