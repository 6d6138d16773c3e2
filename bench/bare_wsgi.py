"""The reference for the Python responder: a WSGI app returning fixed bytes (BARE_BYTES long),
run under the same gunicorn settings by bench/ocsp_rate.py."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

BODY = b"\x30" * int(os.environ.get("BARE_BYTES", "1000"))
HEADERS = [("Content-Type", "application/ocsp-response"), ("Content-Length", str(len(BODY)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("REQUEST_METHOD") == "POST":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", HEADERS)
    return [BODY]
