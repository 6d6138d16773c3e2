"""Fetching a recognized PSrE's OCSP answer for a certificate psre did not issue (issue 21).

Only when ``verify.fetch_revocation`` is on, only for a certificate whose issuer is a CA the
Induk recognizes (its signature checked against that CA first, so the URL we call was put there
by a recognized PSrE, not by whoever made the PDF), only to an http(s) URL, with a short
timeout, a bounded answer and a bounded number of requests per document. The answer is not
trusted here: pyhanko-certvalidator checks its signature and responder like any other OCSP
response; a failed fetch only means the certificate has no revocation data.

The request is made by cryptography's OCSPRequestBuilder (SHA-1 CertID, RFC 5019 §2.1.1 — what
every responder answers), parsed by asn1crypto.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchLimits:
    timeout_seconds: float
    max_bytes: int
    max_requests: int


def ocsp_url(cert: x509.Certificate) -> str | None:
    """The first http(s) OCSP URL of ``cert``'s AIA, or None."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return None
    for desc in aia.value:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            desc.access_location, x509.UniformResourceIdentifier
        ):
            url = desc.access_location.value
            if url.startswith(("http://", "https://")):
                return url
    return None


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def fetch_ocsp(
    cert: asn1_x509.Certificate, issuer: asn1_x509.Certificate, limits: FetchLimits
) -> asn1_ocsp.OCSPResponse | None:
    """The OCSP answer for ``cert`` from the URL in it, or None (no URL, unreachable, too big,
    not a successful OCSP response)."""
    c = x509.load_der_x509_certificate(cert.dump())
    i = x509.load_der_x509_certificate(issuer.dump())
    url = ocsp_url(c)
    if url is None:
        return None
    req = ocsp.OCSPRequestBuilder().add_certificate(c, i, hashes.SHA1()).build()  # noqa: S303
    body = req.public_bytes(serialization.Encoding.DER)
    http_req = urllib.request.Request(  # noqa: S310 - scheme checked in ocsp_url
        url, data=body, headers={"Content-Type": "application/ocsp-request"}, method="POST"
    )
    try:
        with urllib.request.urlopen(http_req, timeout=limits.timeout_seconds) as resp:  # noqa: S310
            data = resp.read(limits.max_bytes + 1)
    except (urllib.error.URLError, OSError, ValueError) as ex:
        log.info("OCSP fetch from %s failed: %s", url, ex)
        return None
    if len(data) > limits.max_bytes:
        log.info("OCSP answer from %s is larger than %d bytes: ignored", url, limits.max_bytes)
        return None
    try:
        parsed = asn1_ocsp.OCSPResponse.load(data)
        if parsed["response_status"].native != "successful":
            return None
        parsed.basic_ocsp_response  # noqa: B018 - parses it now: junk is no revocation data
    except (ValueError, KeyError, TypeError, AttributeError):
        log.info("OCSP answer from %s is not an OCSP response: ignored", url)
        return None
    return parsed
