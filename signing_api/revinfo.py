"""Validation data for PAdES B-LT, taken from our own CA: no network fetch.

For every certificate of a path (signer, issuing CA; the TSA unit and its CA) the current OCSP
response and the CRL that covers it come straight from the store — the same bytes the OCSP
responder and the CRL distribution point serve. Roots need none (they are trust anchors).

The sources are the CRL and OCSP areas' contracts, ``crl.publish.crl_for_certificate`` and
``ocsp.responses.response_for_certificate``. Either may answer None (nothing published yet);
the document then carries what exists, and verification reports whether it is LTV-complete.

Caching: OCSP responses (per certificate) and CRLs (per issuer and distribution point) are
kept for at most ``CACHE_SECONDS`` and never past their nextUpdate, so a bulk request or a busy
signer does not repeat the look-ups. The responses are pre-signed and refreshed on a schedule
anyway, so this adds at most a minute to their age; and a signer whose certificate was just
revoked cannot sign at all (the API checks the status before calling the engine).
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256

from ca_core.clock import Clock, utcnow

if TYPE_CHECKING:
    from ca_core.store import Store

CACHE_SECONDS = 60


@dataclass
class RevInfo:
    certs: list[asn1_x509.Certificate] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)


def _sources():
    try:
        from crl.publish import crl_for_certificate
    except ImportError:
        crl_for_certificate = None
    try:
        from ocsp.responses import response_for_certificate
    except ImportError:
        response_for_certificate = None
    return crl_for_certificate, response_for_certificate


class _Cache:
    """Parsed OCSP responses and CRLs by key, each until min(now + CACHE_SECONDS, nextUpdate)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[object, ...], tuple[dt.datetime, object]] = {}

    def get(
        self, key: tuple[object, ...], now: dt.datetime, load: Callable[[], object | None]
    ) -> object | None:
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        if value is not None:
            expires = now + dt.timedelta(seconds=CACHE_SECONDS)
            next_update = _next_update(value)
            if next_update is not None:
                expires = min(expires, next_update)
            with self._lock:
                self._items[key] = (expires, value)
        return value


_caches: weakref.WeakKeyDictionary[Store, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache_for(store: Store) -> _Cache:
    with _caches_lock:
        found = _caches.get(store)
        if found is None:
            found = _caches[store] = _Cache()
        return found


def _next_update(value: object) -> dt.datetime | None:
    if isinstance(value, asn1_crl.CertificateList):
        return value["tbs_cert_list"]["next_update"].native
    if isinstance(value, asn1_ocsp.OCSPResponse):
        singles = value.basic_ocsp_response["tbs_response_data"]["responses"]
        return min((s["next_update"].native for s in singles), default=None)
    return None


def for_paths(
    store: Store, *paths: Iterable[asn1_x509.Certificate], clock: Clock = utcnow
) -> RevInfo:
    """The certificates of ``paths`` and, for each non-root one, its OCSP response and CRL
    (those current at ``clock``'s now).

    A certificate on several paths (the issuing CA) is looked up once.
    """
    crl_fn, ocsp_fn = _sources()
    cache = _cache_for(store)
    now = clock()
    out = RevInfo()
    seen: set[bytes] = set()
    for path in paths:
        for asn1_cert in path:
            der = asn1_cert.dump()
            if der in seen:
                continue
            seen.add(der)
            out.certs.append(asn1_cert)
            if asn1_cert.self_signed != "no":
                continue  # a root is a trust anchor: nothing revokes it
            cert = x509.load_der_x509_certificate(der)
            if ocsp_fn is not None:

                def load_ocsp(cert: x509.Certificate = cert) -> asn1_ocsp.OCSPResponse | None:
                    resp = ocsp_fn(store, cert, clock=clock)
                    return None if resp is None else asn1_ocsp.OCSPResponse.load(resp)

                resp = cache.get(("ocsp", der), now, load_ocsp)
                if resp is not None:
                    out.ocsps.append(resp)
            if crl_fn is not None:

                def load_crl(cert: x509.Certificate = cert) -> asn1_crl.CertificateList | None:
                    found = crl_fn(store, cert)
                    return None if found is None else asn1_crl.CertificateList.load(found)

                crl = cache.get(("crl", *_crl_key(cert)), now, load_crl)
                if isinstance(crl, asn1_crl.CertificateList) and all(
                    crl.dump() != c.dump() for c in out.crls
                ):
                    out.crls.append(crl)
    return out


def _crl_key(cert: x509.Certificate) -> tuple[bytes, tuple[str, ...]]:
    """Certificates with the same issuer and CRL distribution points share their CRL."""
    try:
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        urls = tuple(
            n.value
            for dp in dps
            for n in dp.full_name or ()
            if isinstance(n, x509.UniformResourceIdentifier)
        )
    except x509.ExtensionNotFound:
        urls = (cert.fingerprint(SHA256()).hex(),)  # no DP: do not share
    return cert.issuer.public_bytes(), urls


def clear_cache(store: Store) -> None:
    """Forget the cached responses (benchmarks measure the cold path with it)."""
    with _caches_lock:
        _caches.pop(store, None)


def available() -> bool:
    """Whether both sources exist in this build (CRL and OCSP areas merged)."""
    crl_fn, ocsp_fn = _sources()
    return crl_fn is not None and ocsp_fn is not None
