"""pyHanko signers over HSM keys, built once per certificate and kept for the process.

Building a signer means parsing the certificate and its chain; the key itself is never loaded
(it stays in the token and :class:`hsm.pdf_signer.HsmPdfSigner` signs through the backend's
session pool). Keeping the signer per certificate fingerprint avoids the per-signature reload
that makes pyHanko's ``SimpleSigner`` slow for RSA keys.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers.pdf_cms import CAdESSignedAttributeProviderSpec
from sqlalchemy import ColumnElement, select

from ca_core.authority import chain
from ca_core.models import Certificate
from hsm.pdf_signer import HsmPdfSigner

if TYPE_CHECKING:
    from ca_core.runtime import Runtime
    from ca_core.store import ReadOnlyStore, Store

_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Runtime, dict[str, HsmPdfSigner]] = weakref.WeakKeyDictionary()


class NoKeyError(Exception):
    """The certificate's key is not held in the HSM (no ``key_label``)."""


class _LoadedSigningCertificateV2(SigningCertificateV2Provider):
    """signing-certificate-v2 built once and re-loaded from its DER.

    asn1crypto re-encodes a structure built from Python values on every dump(), and for this
    one (nested GeneralNames) that costs ~12 ms each time — several times per signature. A
    structure loaded from DER dumps its cached bytes.
    """

    def __init__(self, signing_cert: asn1_x509.Certificate) -> None:
        super().__init__(signing_cert)
        self._der = as_signing_certificate_v2(signing_cert).dump()

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._der)


class _CadesSpec(CAdESSignedAttributeProviderSpec):
    def __init__(self, base: CAdESSignedAttributeProviderSpec, first: CMSAttributeProvider):
        super().__init__(base.attr_settings, base.signing_cert, base.is_pades, base.timestamper)
        self._first = first

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterable[CMSAttributeProvider]:
        rest = super().signed_attr_providers(data_digest, digest_algorithm)
        first = next(iter(rest))
        assert isinstance(first, SigningCertificateV2Provider)
        yield self._first
        yield from rest


class PsreSigner(HsmPdfSigner):
    """HsmPdfSigner whose CAdES signed attributes reuse a pre-encoded signing-certificate-v2."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        assert self.signing_cert is not None
        self._scv2 = _LoadedSigningCertificateV2(self.signing_cert)

    def _signed_attr_provider_spec(self, *args: object, **kwargs: object):  # noqa: ANN202
        spec = super()._signed_attr_provider_spec(*args, **kwargs)  # type: ignore[arg-type]
        if type(spec) is CAdESSignedAttributeProviderSpec:
            return _CadesSpec(spec, self._scv2)
        return spec


def issuer_chain(store: ReadOnlyStore, issuer_id: int) -> list[x509.Certificate]:
    """The issuing CA's certificate and its parents up to the root."""
    by_id = {ca.id: ca for ca in store.list_cas()}
    return chain(store, by_id[issuer_id].name)  # type: ignore[arg-type]


def newest_usable(
    store: Store, condition: ColumnElement[bool], now: dt.datetime
) -> Certificate | None:
    """The newest good, unexpired certificate matching ``condition`` whose key is in the HSM."""
    with store.session() as s:
        return s.scalars(
            select(Certificate)
            .where(
                condition,
                Certificate.status == "good",
                Certificate.key_label.is_not(None),
                Certificate.not_before <= now,
                Certificate.not_after > now,
            )
            .order_by(Certificate.not_before.desc(), Certificate.id.desc())
            .limit(1)
        ).first()


def signer_for(rt: Runtime, cert: Certificate) -> HsmPdfSigner:
    """The (cached) signer for ``cert``: its HSM key, the certificate and the chain to the root."""
    with _lock:
        per_rt = _cache.setdefault(rt, {})
        found = per_rt.get(cert.fingerprint_sha256)
    if found is not None:
        return found
    if not cert.key_label:
        raise NoKeyError(f"certificate {cert.serial_hex} has no key in the HSM")
    signer = PsreSigner(
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
