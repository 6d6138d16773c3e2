"""Cookies, CSRF and the role check shared by the public pages and the console.

CSRF: a console form carries its session's token (stored server-side with the session); a form
shown to someone not signed in (login, PDF upload) carries the value of a random ``psre_csrf``
cookie (double submit). Cookies are HttpOnly and SameSite=Strict, and Secure whenever the public
base URL is https, so a deployment behind TLS never sends them in clear.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from werkzeug.wrappers import Response

from ca_core.app_runtime import runtime
from web.operators import allowed

SESSION_COOKIE = "psre_session"
CSRF_COOKIE = "psre_csrf"

#: Everything is served from this origin: no CDN, no inline script.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def secure_cookies() -> bool:
    return runtime().config.public_base_url.startswith("https://")


def set_cookie(
    resp: Response, name: str, value: str, *, max_age: int | None = None, samesite: str = "Strict"
) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=secure_cookies(),
        httponly=True,
        samesite=samesite,
    )


def csrf_token() -> str:
    """The token to put in a form on this page (creating the anonymous cookie if needed)."""
    active = getattr(g, "session", None)
    if active is not None:
        return active.csrf_token
    token = request.cookies.get(CSRF_COOKIE) or getattr(g, "new_csrf", None)
    if not token:
        token = g.new_csrf = secrets.token_urlsafe(32)
    return token


def csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    active = getattr(g, "session", None)
    expected = active.csrf_token if active is not None else request.cookies.get(CSRF_COOKIE, "")
    return bool(sent) and bool(expected) and hmac.compare_digest(sent, expected)


def after_request(resp: Response) -> Response:
    new = getattr(g, "new_csrf", None)
    if new:
        set_cookie(resp, CSRF_COOKIE, new)
    # Only our pages: other areas' responses (the CP/CPS with its inline <style>, JSON APIs)
    # keep their own headers.
    if request.blueprint not in ("public", "console"):
        return resp
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def requires(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse (403 page) unless the signed-in operator's role has ``permission``."""

    def deco(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            from web.render import render_error

            if not allowed(g.session.operator.role, permission):
                return render_error("forbidden", 403)
            return view(*args, **kwargs)

        wrapped.permission = permission  # type: ignore[attr-defined]
        return wrapped

    return deco
