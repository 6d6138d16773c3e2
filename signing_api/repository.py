"""The public repository every certificate points at: CA certificates (AIA caIssuers) and the
CP/CPS (certificatePolicies CPS URI), rendered from policies/ so the published text always
matches what the CA issues."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, abort, request

from ca_core.app_runtime import runtime

bp = Blueprint("repository", __name__)


@lru_cache(maxsize=4)
def _cps_html(base_url: str) -> str:
    from policies.render import render_cps
    from policies.schema import load_profiles

    return render_cps(load_profiles(), base_url=base_url, fmt="html")


@bp.get("/cps")
def cps() -> Response:
    return Response(_cps_html(runtime().config.public_base_url), mimetype="text/html")


@bp.get("/ca/<name>.crt")
def ca_certificate(name: str) -> Response:
    """DER for AIA caIssuers (RFC 5280 §4.2.2.1: a single DER certificate, pkix-cert)."""
    return _ca_cert(name, pem=False)


@bp.get("/ca/<name>.pem")
def ca_certificate_pem(name: str) -> Response:
    return _ca_cert(name, pem=True)


def _ca_cert(name: str, *, pem: bool) -> Response:
    from ca_core.errors import NotFoundError

    try:
        ca = runtime().store.get_ca(name)
    except NotFoundError:
        abort(404, description=f"no CA named {name}")
    if ca.certificate_der is None:
        abort(404, description=f"CA {name} has no certificate yet")
    der = ca.certificate_der
    etag = hashlib.sha256(der).hexdigest()
    if request.if_none_match.contains(etag):
        return Response(status=304)
    if pem:
        body = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        resp = Response(body, mimetype="application/x-pem-file")
    else:
        resp = Response(der, mimetype="application/pkix-cert")
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp
