"""A pyHanko ``Signer`` that signs through the key backend.

pyHanko asks a signer only for ``async_sign_raw(data, digest_algorithm)``; the key stays in the
token and the session pool is the backend's, shared with certificate and CRL signing. Unlike
pyHanko's ``SimpleSigner`` nothing is reloaded per signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from hsm.backend import KeyBackend, SignScheme
from hsm.errors import HsmError

_DIGESTS = ("sha256", "sha384", "sha512")


class HsmPdfSigner(Signer):
    def __init__(
        self,
        backend: KeyBackend,
        key_label: str,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        *,
        prefer_pss: bool = False,
    ) -> None:
        def conv(c: x509.Certificate) -> asn1_x509.Certificate:
            return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

        registry = SimpleCertificateStore.from_certs([conv(c) for c in chain])
        super().__init__(
            prefer_pss=prefer_pss,
            signing_cert=conv(cert),
            cert_registry=registry,
            embed_roots=True,
        )
        self.backend = backend
        self.key_label = key_label

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        digest_algorithm = digest_algorithm.lower()
        if digest_algorithm not in _DIGESTS:
            raise HsmError(f"unsupported digest {digest_algorithm}")
        mech = self.get_signature_mechanism_for_digest(digest_algorithm)
        algo = mech.signature_algo
        if algo == "ecdsa":
            scheme = SignScheme.ECDSA
        elif algo == "rsassa_pss":
            scheme = SignScheme.PSS
        elif algo == "rsassa_pkcs1v15":
            scheme = SignScheme.PKCS1V15
        else:
            raise HsmError(f"unsupported signature mechanism {algo}")
        if dry_run:
            # pyHanko sizes the signature placeholder from this; an RSA signature is the modulus
            # length, a DER ECDSA signature at most 2 * (coordinate + 3) + 2 bytes.
            if self.signing_cert is None:
                raise HsmError("no signing certificate")
            size = self.signing_cert.public_key.bit_size
            n = (size + 7) // 8
            return bytes(n if scheme is not SignScheme.ECDSA else 2 * (n + 3) + 2)
        pss_salt = None
        if scheme is SignScheme.PSS:
            pss_salt = mech["parameters"]["salt_length"].native
        # PKCS#11 calls block; run them off the event loop so pyHanko's async code keeps moving.
        return await asyncio.to_thread(
            self.backend.sign,
            self.key_label,
            data,
            digest_algorithm,
            scheme,
            pss_salt_length=pss_salt,
        )
