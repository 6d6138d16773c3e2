"""The OCSP responder: ``POST /ocsp`` and ``GET /ocsp/<url-encoded base64>`` (RFC 6960 App. A,
RFC 5019), as a bare WSGI handler placed in front of Flask (psre/app.py) because the
answer is a dictionary look-up and Flask's request machinery would cost more than the work.

Choices (README "OCSP"):

* GET and nonce-less POST are answered with the pre-signed response (ocsp/index.py: a bounded
  cache, else one indexed row, else the static file when the database is away) — never the
  HSM. A canonical request seen before is found by its exact bytes, any other after parsing.
* A request with a nonce (RFC 8954: 1..32 bytes, else malformedRequest) gets a live-signed
  response echoing it; so do serials without a pre-signed response (never issued, expired,
  reserved-but-unstored, an issuer we don't serve → ``unknown``). Live signing is limited by a
  token bucket per process (``ocsp.live_rate``/``live_burst``) so a nonce flood cannot starve
  the HSM: beyond it a nonce request gets the pre-signed response without the nonce (RFC 8954
  §2.1 lets a responder omit it), anything else ``tryLater``.
* One CertID per request (the RFC 5019 profile): several → ``malformedRequest``.
* Anything that does not parse as an OCSPRequest — bad base64, garbage, trailing bytes — is
  ``malformedRequest`` with HTTP 200, as RFC 6960 asks; only a body over
  ``ocsp.max_request_bytes`` is refused with HTTP 413 before it is read, and other methods 405.
* Never stale, never unsigned for a status: an entry past its nextUpdate is not served; if the
  database is down and there is no valid pre-signed response, the answer is ``tryLater``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509 import ocsp

from ca_core.clock import Clock, utcnow
from ca_core.errors import CaError
from hsm.errors import HsmError
from ocsp.index import Entry, IndexedCa, ResponseIndex
from ocsp.live import LiveSigner
from ocsp.signing import CERTID_HASHES, CertStatus, Responder, unsuccessful

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/ocsp-response"
_MALFORMED = unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
_TRY_LATER = unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
_UNAUTHORIZED = unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
_INTERNAL = unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
_NO_CACHE = "max-age=0, no-cache, no-store"

StartResponse = Callable[..., Any]
Answer = tuple[str, list[tuple[str, str]], bytes]


def _error(status: str, message: str) -> Answer:
    body = message.encode()
    return (
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", _NO_CACHE)],
        body,
    )


def _unsuccessful(der: bytes) -> Answer:
    return "200 OK", [("Content-Type", CONTENT_TYPE), ("Cache-Control", _NO_CACHE)], der


def _cached(entry: Entry, now: float) -> Answer:
    # RFC 5019 §6.2: max-age bounded by nextUpdate; Last-Modified thisUpdate; Expires nextUpdate.
    max_age = max(0, int(entry.next_update_ts - now))
    return (
        "200 OK",
        [
            ("Content-Type", CONTENT_TYPE),
            ("Cache-Control", f"max-age={max_age}, public, no-transform, must-revalidate"),
            ("Last-Modified", entry.last_modified),
            ("Expires", entry.expires),
            ("ETag", entry.etag),
        ],
        entry.der,
    )


@dataclass(frozen=True)
class ResponderSettings:
    """What of ``[ocsp]`` the request handling itself reads."""

    #: A POST body over this is refused with 413 before it is read.
    max_request_bytes: int = 4096
    #: ``revoked`` (RFC 6960 §2.2's extended revoked) or ``unauthorized`` for a serial we
    #: never issued.
    never_issued: str = "revoked"


class OcspResponder:
    """One per process: the index of pre-signed responses and, on the signing side, the live
    signer (``None`` on a public server: no key, so an answer that would need a live signature
    is the pre-signed one without the nonce, or tryLater — never a guess such as good)."""

    def __init__(
        self,
        index: ResponseIndex,
        live: LiveSigner | None,
        clock: Clock = utcnow,
        settings: ResponderSettings | None = None,
    ) -> None:
        self.index = index
        self.live = live
        self.clock = clock
        self.cfg = settings or ResponderSettings()

    # -- WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, headers, body = self.answer(environ)
        except Exception:
            log.exception("OCSP responder failed")
            status, headers, body = _unsuccessful(_INTERNAL)
        if status.startswith("200") and environ.get("HTTP_IF_NONE_MATCH"):
            etag = dict(headers).get("ETag")
            if etag and etag == environ["HTTP_IF_NONE_MATCH"]:
                status, body = "304 Not Modified", b""
                headers = [h for h in headers if h[0] != "Content-Type"]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body] if environ.get("REQUEST_METHOD") != "HEAD" else [b""]

    def answer(self, environ: dict[str, Any]) -> Answer:
        method = environ.get("REQUEST_METHOD", "GET")
        if method in ("GET", "HEAD"):
            path: str = environ.get("PATH_INFO", "")
            der = _decode_get(path[len("/ocsp/") :] if path.startswith("/ocsp/") else "")
            if der is None:
                return _unsuccessful(_MALFORMED)
        elif method == "POST":
            body = _read_body(environ, self.cfg.max_request_bytes)
            if body is None:
                return _error("413 Content Too Large", "OCSP request too large\n")
            if isinstance(body, str):
                return _error("400 Bad Request", body)
            der = body
        else:
            return _error("405 Method Not Allowed", "use GET or POST\n")
        return self.respond(der)

    # -- the OCSP logic --------------------------------------------------------------------------
    def respond(self, der: bytes) -> Answer:
        now = self.index.clock()
        known = self.index.key_for_request(der)
        if known is not None:
            entry = self.index.lookup(known, der)
            if entry is not None:
                return _cached(entry, now)
        try:
            req = ocsp.load_der_ocsp_request(der)
            alg = req.hash_algorithm.name
            serial = req.serial_number
            name_hash, key_hash = req.issuer_name_hash, req.issuer_key_hash
            nonce = _nonce(req)
        except Exception:
            return _unsuccessful(_MALFORMED)
        # RFC 5280 §4.1.2.2: serials are positive; a CertID with zero or a negative one names
        # no certificate anybody could have issued (found by the fuzz test).
        if alg not in CERTID_HASHES or serial <= 0:
            return _unsuccessful(_MALFORMED)
        # Only a nonce-less request's bytes are worth remembering: a nonce makes each unique.
        entry = self.index.lookup(
            (alg, name_hash, key_hash, serial), der if nonce is None else None
        )
        if nonce is None and entry is not None:
            return _cached(entry, now)
        return self._live(alg, name_hash, key_hash, serial, nonce, entry, now)

    def _live(
        self,
        alg: str,
        name_hash: bytes,
        key_hash: bytes,
        serial: int,
        nonce: bytes | None,
        entry: Entry | None,
        now: float,
    ) -> Answer:
        def fallback() -> Answer:
            return _cached(entry, now) if entry is not None else _unsuccessful(_TRY_LATER)

        ca = self.index.issuer(alg, name_hash, key_hash)
        if ca is None and not self.index.cas:
            # The index never loaded (the database was down when this process started): we
            # know of no CA at all, so "not ours" would be a guess. Ask the client to retry.
            return _unsuccessful(_TRY_LATER)
        if ca is None and self.cfg.never_issued == "unauthorized":
            return _unsuccessful(_UNAUTHORIZED)
        if self.live is None or not self.live.take():
            return fallback()
        live_signer = self.live
        try:
            if ca is None:
                # RFC 6960 §2.2: "unknown" for an issuer this responder does not serve, signed
                # by the top of our hierarchy.
                signer_ca = self._top_ca()
                if signer_ca is None:
                    return _unsuccessful(_UNAUTHORIZED)
                responder = live_signer.responder(signer_ca)
                status = CertStatus("unknown")
                # The CertID must echo the request's hashes, not the signer's.
                responder = _with_hashes(responder, alg, name_hash, key_hash)
            else:
                status = live_signer.status(ca.id, serial)
                if status.status == "never_issued" and self.cfg.never_issued == "unauthorized":
                    return _unsuccessful(_UNAUTHORIZED)
                responder = live_signer.responder(ca)
            der, _this, next_u = live_signer.sign(
                responder, serial=serial, hash_alg=alg, status=status, nonce=nonce
            )
        except (CaError, HsmError) as ex:
            # Database down, no signer, the token away: the pre-signed answer (RFC 8954 §2.1
            # lets us omit the nonce) or tryLater, never internalError.
            log.warning("OCSP live answer impossible: %s", ex)
            return fallback()
        if nonce is not None:
            return "200 OK", [("Content-Type", CONTENT_TYPE), ("Cache-Control", _NO_CACHE)], der
        live = Entry.make(der, "", self.clock(), next_u, 0)
        status_line, headers, body = _cached(live, now)
        return status_line, [h for h in headers if h[0] != "ETag"], body

    def _top_ca(self) -> IndexedCa | None:
        roots = [c for c in self.index.cas.values() if c.parent_id is None]
        return min(roots, key=lambda c: c.id) if roots else None


def _with_hashes(r: Responder, alg: str, name_hash: bytes, key_hash: bytes) -> Responder:
    import copy

    from ocsp.signing import IssuerHashes

    out = copy.copy(r)
    out.hashes = IssuerHashes({**r.hashes.name, alg: name_hash}, {**r.hashes.key, alg: key_hash})
    return out


def _read_body(environ: dict[str, Any], limit: int) -> bytes | str | None:
    """The POST body, at most ``limit`` bytes: None when larger, an error text when unreadable.

    With a Content-Length, a larger body is refused before it is read. Without one (HTTP/1.1
    ``Transfer-Encoding: chunked``) the server hands the de-chunked stream; reading ``limit + 1``
    bytes of it tells a body that fits from one that does not, without holding more.
    """
    raw_length = environ.get("CONTENT_LENGTH")
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            return "bad Content-Length\n"
        if length < 0:
            return "bad Content-Length\n"
        if length > limit:
            return None
        return environ["wsgi.input"].read(length) if length else b""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not (chunked or environ.get("wsgi.input_terminated")):
        return b""  # neither a length nor a terminated stream: nothing may be read safely
    stream = environ["wsgi.input"]
    body = b""
    while len(body) <= limit:
        piece = stream.read(limit + 1 - len(body))
        if not piece:
            break
        body += piece
    return None if len(body) > limit else body


def _nonce(req: ocsp.OCSPRequest) -> bytes | None:
    try:
        ext = req.extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        return None
    value = ext.value.nonce
    # RFC 8954 §2.1: Nonce ::= OCTET STRING (SIZE(1..32)).
    if not 1 <= len(value) <= 32:
        raise ValueError("nonce length out of range")
    return value


def _decode_get(b64: str) -> bytes | None:
    """The request in a GET URL: base64, URL-encoded or not (servers decode PATH_INFO once; some
    clients encode twice), padding optional."""
    if "%" in b64:
        b64 = unquote(b64)
    b64 = b64.strip()
    if not b64:
        return None
    b64 += "=" * (-len(b64) % 4)
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
