"""pyHanko signers over HSM keys, built once per certificate and kept for the process.

Building a signer means parsing the certificate and its chain; the key itself is never loaded
(it stays in the token and :class:`hsm.pdf_signer.HsmPdfSigner` signs through the backend's
session pool). Keeping the signer per certificate fingerprint avoids the per-signature reload
that makes pyHanko's ``SimpleSigner`` slow for RSA keys.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from ca_core.authority import chain
from hsm.pdf_signer import HsmPdfSigner

if TYPE_CHECKING:
    from ca_core.models import Certificate
    from ca_core.runtime import Runtime
    from ca_core.store import ReadOnlyStore

_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Runtime, dict[str, HsmPdfSigner]] = weakref.WeakKeyDictionary()


class NoKeyError(Exception):
    """The certificate's key is not held in the HSM (no ``key_label``)."""


def issuer_chain(store: ReadOnlyStore, issuer_id: int) -> list[x509.Certificate]:
    """The issuing CA's certificate and its parents up to the root."""
    by_id = {ca.id: ca for ca in store.list_cas()}
    return chain(store, by_id[issuer_id].name)  # type: ignore[arg-type]


def signer_for(rt: Runtime, cert: Certificate) -> HsmPdfSigner:
    """The (cached) signer for ``cert``: its HSM key, the certificate and the chain to the root."""
    with _lock:
        per_rt = _cache.setdefault(rt, {})
        found = per_rt.get(cert.fingerprint_sha256)
    if found is not None:
        return found
    if not cert.key_label:
        raise NoKeyError(f"certificate {cert.serial_hex} has no key in the HSM")
    signer = HsmPdfSigner(
        rt.backend,
        cert.key_label,
        x509.load_der_x509_certificate(cert.der),
        issuer_chain(rt.store, cert.issuer_id),
    )
    with _lock:
        return per_rt.setdefault(cert.fingerprint_sha256, signer)


def digest_for(cert: asn1_x509.Certificate) -> str:
    """The hash that matches the key's strength (SHA-384 for P-384, SHA-512 for P-521)."""
    pub = cert.public_key
    if pub.algorithm == "ec":
        return {384: "sha384", 521: "sha512"}.get(pub.bit_size, "sha256")
    return "sha256"
