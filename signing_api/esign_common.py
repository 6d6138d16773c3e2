"""What every e-sign API blueprint shares: client authentication before each request, the
e-sign error answers, and access to the authenticated client and the activation checker."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, request

from ca_core.runtime import Runtime
from signing_api.activation import Activation
from signing_api.app_runtime import runtime
from signing_api.client_auth import ClientApp, authenticate, check_rate
from signing_api.esign_errors import INVALID_FORMAT, EsignError, register_esign_handlers
from signing_api.lockout import client_channel
from signing_api.notifier import Notifier, notifier_for


def esign_blueprint(name: str, url_prefix: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=url_prefix)
    register_esign_handlers(bp)

    @bp.before_request
    def _authenticate() -> None:
        g.esign_client = authenticate(runtime().store)

    return bp


def client() -> ClientApp:
    return g.esign_client


def activation() -> Activation:
    rt = runtime()
    return Activation(rt.store, rt.config.signing, client(), notifier=notifier())


def channel_key() -> str:
    """The lockout channel of the calling client app (signing_api.lockout)."""
    c = client()
    return client_channel(c.id, c.username).key


def count_signing_request(rt: Runtime) -> None:
    """The per-client rate limit applies to requests that sign."""
    check_rate(rt.store, client(), rt.config.signing.rate_limit_per_minute)


def notifier() -> Notifier:
    """The TOTP notifier: ``app.extensions['psre_notifier']`` if set, else the configured one."""
    custom = current_app.extensions.get("psre_notifier")
    if custom is not None:
        return custom
    rt = runtime()
    return notifier_for(rt.store, rt.config.signing.notifier)


def json_body() -> dict[str, Any]:
    """The request's JSON object; 4015 for anything else (never a 500 on bad JSON)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise EsignError(INVALID_FORMAT, "the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str) -> str | None:
    """An optional string field; numbers are accepted as their text (many clients send NIKs
    as numbers), anything else is 4015."""
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EsignError(INVALID_FORMAT, f"{name}: must be a string")
    return str(value)
