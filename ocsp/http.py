"""Wiring the responder into the web app.

``register(app)`` puts the OCSP responder in front of Flask (``app.wsgi_app`` wrapper): a path
under ``/ocsp`` never enters Flask's request handling, which costs more than the look-up that
answers it (bench/ocsp_rate.py measures both). The blueprint's routes exist so that the URL map
lists ``/ocsp`` (the status page shows it) and answer the same if the wrapper is bypassed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from ocsp.responder import OcspResponder, StartResponse

bp = Blueprint("ocsp", __name__)
_EXT = "psre_ocsp"


def responder_of(app: Flask) -> OcspResponder:
    """The app's responder, made on first use in the serving process (after gunicorn forks)."""
    holder: dict[str, Any] = app.extensions[_EXT]
    r = holder.get("responder")
    if r is None:
        with holder["lock"]:
            r = holder.get("responder")
            if r is None:
                r = holder["responder"] = holder["make"]()
    return r


class _Dispatch:
    def __init__(self, app: Flask, inner: Any) -> None:
        self.app = app
        self.inner = inner

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/ocsp" or path.startswith("/ocsp/"):
            return responder_of(self.app)(environ, start_response)
        return self.inner(environ, start_response)


@bp.route("/ocsp", methods=["GET", "POST"])
@bp.route("/ocsp/<path:encoded>", methods=["GET", "POST"])
def ocsp_view(encoded: str = "") -> Response:
    status, headers, body = responder_of(current_app._get_current_object()).answer(  # type: ignore[attr-defined]
        request.environ
    )
    return Response(body, status=status, headers=headers)


def register(app: Flask, make_responder: Callable[[], OcspResponder]) -> None:
    """Serve /ocsp with the responder ``make_responder`` builds (psre.services: on a public
    server, pre-signed responses only, never the HSM), made on first use."""
    app.extensions[_EXT] = {"lock": threading.Lock(), "make": make_responder}
    app.register_blueprint(bp)
    app.wsgi_app = _Dispatch(app, app.wsgi_app)  # type: ignore[method-assign]
