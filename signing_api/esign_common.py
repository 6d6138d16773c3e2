"""What every e-sign API blueprint shares: client authentication before each request, the
e-sign error answers, and access to the authenticated client and the activation checker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, g, request

from ca_core.app_runtime import runtime
from ca_core.notifier import Notifier, notifier_for
from signing_api import api_schema
from signing_api.activation import Activation
from signing_api.client_auth import ClientApp, authenticate, check_rate
from signing_api.edge import EdgeError, parse_json
from signing_api.esign_errors import INVALID_FORMAT, EsignError, register_esign_handlers
from signing_api.lockout import client_channel
from signing_api.totp import CodeMac

if TYPE_CHECKING:
    from ca_core.config import SigningConfig
    from ca_core.store import Store


def esign_blueprint(name: str, url_prefix: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=url_prefix)
    register_esign_handlers(bp)

    @bp.before_request
    def _authenticate() -> None:
        g.esign_client = authenticate(runtime().store)

    @bp.before_request
    def _check_fields() -> None:
        check_request_fields()

    return bp


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def operation_key() -> str:
    """``"POST /api/v2/sign/pdf"``: the request's operation as the OpenAPI document names it."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return f"{request.method} {rule.replace('<', '{').replace('>', '}')}"


def check_request_fields() -> None:
    """The operation's request schema (signing_api.api_schema) against what was sent: path
    parameters, the multipart form (files by presence), or the JSON body, parsed here once."""
    max_files = runtime().config.signing.max_files
    key = operation_key()
    parts = api_schema.request_schemas(max_files).get(key, {})
    if "path" in parts:
        api_schema.check(key, "path", dict(request.view_args or {}), max_files)
    if "multipart" in parts:
        if request.content_length and request.mimetype not in _FORM_TYPES:
            raise EsignError(INVALID_FORMAT, "the body must be multipart/form-data")
        instance: dict[str, Any] = dict(request.form.items())
        props = parts["multipart"].get("properties", {})
        for name, prop in props.items():
            if prop.get("format") == "binary":
                instance.pop(name, None)
                f = request.files.get(name)
                if f is not None and (f.filename or f.content_length):
                    instance[name] = f.filename or name
        api_schema.check(key, "multipart", instance, max_files)
    if "json" in parts:
        g.esign_json = json_body()
        api_schema.check(key, "json", g.esign_json, max_files)


def client() -> ClientApp:
    return g.esign_client


def activation() -> Activation:
    rt = runtime()
    return Activation(
        rt.store, rt.config.signing, client(), notifier=notifier(), codes=CodeMac(rt.backend)
    )


def channel_key() -> str:
    """The lockout channel of the calling client app (signing_api.lockout)."""
    c = client()
    return client_channel(c.id, c.username).key


def count_signing_request(store: Store, config: SigningConfig) -> None:
    """The per-client rate limit applies to requests that sign: one more for the calling
    client in ``store``, ``config.rate_limit_per_minute`` unless the client has its own."""
    check_rate(store, client(), config.rate_limit_per_minute)


def notifier() -> Notifier:
    """The TOTP notifier: ``app.extensions['psre_notifier']`` if set, else the configured one."""
    custom = current_app.extensions.get("psre_notifier")
    if custom is not None:
        return custom
    rt = runtime()
    return notifier_for(rt.store, rt.config.signing.notifier, clock=rt.clock)


def json_body() -> dict[str, Any]:
    """The request's JSON object; 4015 for anything else (never a 500 on bad JSON): parsed
    with the edge's limits (signing_api.edge), whatever the Content-Type says."""
    cached = g.get("esign_json")
    if cached is not None:
        return cached
    try:
        body = parse_json(request.get_data(cache=True))
    except EdgeError as ex:
        raise EsignError(INVALID_FORMAT, str(ex)) from None
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
