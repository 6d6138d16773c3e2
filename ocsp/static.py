"""Pre-signed responses as static files at their canonical GET URLs (RFC 6960 App. A.1).

The DER of a nonce-less, single-CertID request is deterministic for a given CertID (the same
bytes from cryptography, OpenSSL and NSS: no version, no requestor, no extensions), so its
base64 is the URL every such client GETs. Writing the response under that path lets nginx or
a CDN answer the common case without Python; the Python responder answers the rest. Base64's
"/" becomes a directory separator on disk, which is what nginx's decoded ``$uri`` maps to (with
``merge_slashes off``: base64 may contain "//").
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from ocsp.signing import CERTID_HASHES, IssuerHashes


def canonical_request(hashes_: IssuerHashes, serial: int, hash_alg: str) -> bytes:
    """The DER of the nonce-less single request a client sends for this CertID."""
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            hashes_.name[hash_alg], hashes_.key[hash_alg], serial, CERTID_HASHES[hash_alg]
        )
        .build()
    )
    return req.public_bytes(serialization.Encoding.DER)


def url_path(request_der: bytes) -> str:
    """The path (below the site root) of the GET URL for ``request_der``, unencoded."""
    return "ocsp/" + base64.b64encode(request_der).decode("ascii")


def static_root(data_path: Path) -> Path:
    """Where published files live; nginx's ``root`` (``ocsp/`` below it)."""
    return data_path / "public"


def file_for(root: Path, request_der: bytes) -> Path:
    # Path() folds "//" into "/", the same thing the file system does with nginx's path.
    return root / url_path(request_der)


def write_response(root: Path, request_der: bytes, der: bytes, this_update: dt.datetime) -> Path:
    """Atomically (re)place the static file; its mtime is thisUpdate (nginx ``expires
    modified`` then makes Expires = nextUpdate)."""
    path = file_for(root, request_der)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(der)
        ts = this_update.timestamp()
        os.utime(tmp, (ts, ts))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_response(root: Path, request_der: bytes) -> None:
    file_for(root, request_der).unlink(missing_ok=True)
