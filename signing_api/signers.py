"""pyHanko signers over HSM keys, built once per certificate and kept for the process.

Building a signer means parsing the certificate and its chain; the key itself is never loaded
(it stays in the token and :class:`hsm.pdf_signer.HsmPdfSigner` signs through the backend's
session pool). Keeping the signer per certificate fingerprint avoids the per-signature reload
that makes pyHanko's ``SimpleSigner`` slow for RSA keys. The process's one
:class:`SignerCache` is built by the composition root (``psre.services``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

from ca_core.authority import chain
from ca_core.store.models import Certificate
from hsm.pdf_signer import HsmPdfSigner
from signing_api.pdf_sign import PdfSignError

if TYPE_CHECKING:
    from ca_core.store import ReadOnlyStore
    from hsm.backend import KeyBackend

#: Signers kept per process, least recently used dropped first: the active signers of a busy
#: day fit, and memory stays bounded however many subscribers there are.
CACHE_SIZE = 4096


class NoKeyError(PdfSignError):
    """The certificate's key is not held in the HSM (no ``key_label``)."""

    code = "no_signing_key"


class PsreSigner(HsmPdfSigner):
    """HsmPdfSigner whose CAdES signed attributes are assembled from pre-encoded parts.

    asn1crypto re-encodes a structure built from Python values on every dump(), and the
    signing-certificate-v2 attribute (nested GeneralNames, a defaulted DigestAlgorithm) costs
    ~25 ms each time — more than the rest of a signature. It never changes for a certificate, so
    it is encoded once and loaded from DER, which dumps its cached bytes. The attributes are
    those pyHanko's CAdES spec makes: content-type, message-digest, signing-certificate-v2, and
    signing-time for non-PDF CAdES (the TSA's tokens; PAdES forbids it, §5.2.1 EN 319 142-1).
    """

    def __init__(self, *args: object, scv2_der: bytes | None = None, **kwargs: object) -> None:
        """``scv2_der``: this certificate's attribute as :attr:`scv2` gave it before."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        assert self.signing_cert is not None
        # asn1crypto parses lazily and not thread-safely: two gthread workers signing with a
        # freshly cached signer could read half-parsed children (a TypeError was seen once in
        # concurrent first signatures). Parse every certificate fully before the signer is
        # shared; afterwards they are only read.
        for c in (self.signing_cert, *self.cert_registry):
            _ = c.native
        if scv2_der is None:
            scv2 = as_signing_certificate_v2(self.signing_cert)
            scv2_der = simple_cms_attribute("signing_certificate_v2", scv2).dump()
        self._scv2_der = scv2_der

    @property
    def scv2(self) -> bytes:
        """The signing-certificate-v2 attribute, DER."""
        return self._scv2_der

    async def signed_attrs(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        attr_settings: PdfCMSSignedAttributes | None = None,
        content_type: str = "data",
        use_pades: bool = False,
        timestamper: object = None,
        dry_run: bool = False,
        is_pdf_sig: bool = True,
    ) -> cms.CMSAttributes:
        if not use_pades or (attr_settings is not None and attr_settings.cades_signed_attrs):
            return await super().signed_attrs(
                data_digest,
                digest_algorithm,
                attr_settings=attr_settings,
                content_type=content_type,
                use_pades=use_pades,
                timestamper=timestamper,
                dry_run=dry_run,
                is_pdf_sig=is_pdf_sig,
            )
        attrs = [
            simple_cms_attribute("content_type", content_type),
            simple_cms_attribute("message_digest", data_digest),
            cms.CMSAttribute.load(self._scv2_der),
        ]
        if not is_pdf_sig:
            when = (attr_settings.signing_time if attr_settings else None) or dt.datetime.now(
                dt.UTC
            )
            attrs.append(simple_cms_attribute("signing_time", cms.Time({"utc_time": when})))
        return cms.CMSAttributes(attrs)


def issuer_chain(store: ReadOnlyStore, issuer_id: int) -> list[x509.Certificate]:
    """The issuing CA's certificate and its parents up to the root."""
    by_id = {ca.id: ca for ca in store.list_cas()}
    return chain(store, by_id[issuer_id].name)  # type: ignore[arg-type]


class SignerCache:
    """The process's signers: one per certificate, its key in ``backend`` and its chain read
    from ``store``; at most ``size`` kept, least recently used dropped first."""

    def __init__(
        self, store: ReadOnlyStore, backend: KeyBackend, *, size: int = CACHE_SIZE
    ) -> None:
        self.store = store
        self.backend = backend
        self.size = size
        self._lock = threading.Lock()
        self._signers: OrderedDict[str, HsmPdfSigner] = OrderedDict()

    def signer(self, cert: Certificate) -> HsmPdfSigner:
        """The (cached) signer for ``cert``: its HSM key, the certificate and the chain to the
        root. Raises :class:`NoKeyError` for a certificate whose key is not in the HSM."""
        key = cert.fingerprint_sha256
        with self._lock:
            found = self._signers.get(key)
            if found is not None:
                self._signers.move_to_end(key)
                return found
        if not cert.key_label:
            raise NoKeyError(f"certificate {cert.serial_hex} has no key in the HSM")
        # Built outside the lock (it reads the store): two threads may build the same signer
        # at once, and the first one stored is the one both use.
        signer: HsmPdfSigner = PsreSigner(
            self.backend,
            cert.key_label,
            x509.load_der_x509_certificate(cert.der),
            issuer_chain(self.store, cert.issuer_id),
        )
        with self._lock:
            signer = self._signers.setdefault(key, signer)
            while len(self._signers) > self.size:
                self._signers.popitem(last=False)
            return signer


def digest_for(cert: asn1_x509.Certificate) -> str:
    """The hash that matches the key's strength (SHA-384 for P-384, SHA-512 for P-521)."""
    pub = cert.public_key
    if pub.algorithm == "ec":
        return {384: "sha384", 521: "sha512"}.get(pub.bit_size, "sha256")
    return "sha256"
