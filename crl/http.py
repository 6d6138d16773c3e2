"""``GET /crl/<name>.crl``: the newest published CRL of a scope, DER, ``application/pkix-crl``.

Names: ``<ca>.crl`` (complete), ``<ca>-<partition>.crl``, ``<ca>-delta.crl`` (crl.urls). Caches,
CDNs and relying parties get ``ETag`` (SHA-256 of the DER), ``Last-Modified`` (thisUpdate), and a
freshness lifetime stated twice, consistently: ``Cache-Control: public, max-age=N`` and
``Expires`` = now + N (HTTP/1.0 caches read only that). N is ``crl.http_max_age_seconds`` (an
hour by default, so a CRL re-signed at once after a revocation reaches caches soon), cut so that
it ends a minute before nextUpdate: no cache serves a CRL past it. Conditional requests
(If-None-Match, If-Modified-Since) are answered 304 with the same headers, which is how a cache
revalidates an expired copy without fetching the body again.

The body comes from the database row (every worker sees the same CRL whatever the file system);
the newest DER of each scope is kept in memory, keyed by the row, since one look-up of the row's
metadata tells whether it changed.
"""

from __future__ import annotations

import datetime as dt
import threading

from flask import Blueprint, Response, abort, request

from ca_core.app_runtime import runtime
from crl.publish import CrlInfo, crl_der, newest_crl
from crl.urls import parse_crl_name

bp = Blueprint("crl", __name__)

#: max-age stops this long before nextUpdate, so no cache serves a CRL past it.
MARGIN = 60

#: (ca, kind, partition) → (sha256, DER). Keyed by content, not row id: two databases (tests,
#: a restored backup) reuse row ids.
_cache: dict[tuple[str, str, int], tuple[str, bytes]] = {}
_cache_lock = threading.Lock()


@bp.get("/crl/<name>.crl")
def crl(name: str) -> Response:
    store = runtime().store.reader  # read-only connections: never the writer's lock
    known = {ca.name for ca in store.list_cas()}
    parsed = parse_crl_name(name, known)
    if parsed is None:
        abort(404, description=f"no CRL named {name}.crl")
    ca, kind, partition = parsed
    info = newest_crl(store, ca, kind, partition)
    if info is None:
        abort(404, description=f"no {name}.crl published yet")
    now = runtime().clock().replace(microsecond=0)
    resp = Response(mimetype="application/pkix-crl")
    resp.set_etag(info.sha256)
    resp.last_modified = info.this_update
    longest = runtime().config.crl.http_max_age_seconds
    to_next_update = int((info.next_update - now).total_seconds()) - MARGIN
    max_age = max(0, min(longest, to_next_update))
    resp.headers["Cache-Control"] = f"public, max-age={max_age}"
    # Always set: werkzeug turns ``expires = None`` into "now", which made every cache treat the
    # CRL as stale on arrival. (Date is the server's: gunicorn adds its own, so none here.)
    resp.expires = min(now + dt.timedelta(seconds=max_age), info.next_update)
    if _not_modified(info):
        resp.status_code = 304
        return resp
    resp.set_data(_der(info))
    return resp


def _not_modified(info: CrlInfo) -> bool:
    if request.if_none_match:
        return request.if_none_match.contains(info.sha256)
    since = request.if_modified_since
    return since is not None and info.this_update <= since


def _der(info: CrlInfo) -> bytes:
    key = (info.ca, info.kind, info.partition)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == info.sha256:
        return cached[1]
    der = crl_der(runtime().store.reader, info.id)
    if der is None:  # pruned between the two look-ups: a newer one exists
        abort(503, description="CRL being replaced, retry")
    with _cache_lock:
        _cache[key] = (info.sha256, der)
    return der
