"""Private keys that live in the token but look like ``cryptography`` keys.

``CertificateBuilder.sign``, ``CertificateRevocationListBuilder.sign`` and
``OCSPResponseBuilder.sign`` accept any ``RSAPrivateKey`` / ``EllipticCurvePrivateKey``; they call
only ``sign()`` (and read ``key_size``/``curve``/``public_key()``). Subclassing them lets all of
psre's certificates, CRLs and OCSP responses be signed in the HSM with cryptography's own DER,
the pattern its maintainers point to (pyca/cryptography#11616). Everything that would expose key
material raises ``UnsupportedError``.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from hsm.backend import KeyBackend, KeySpec, SignScheme
from hsm.errors import HsmError, UnsupportedError

_HASH_NAMES = {
    hashes.SHA256.name: "sha256",
    hashes.SHA384.name: "sha384",
    hashes.SHA512.name: "sha512",
}


def _hash_name(algorithm: Any) -> tuple[str, bool]:
    """(our hash name, prehashed?) from a cryptography hash algorithm or ``Prehashed``."""
    prehashed = isinstance(algorithm, utils.Prehashed)
    alg = algorithm._algorithm if prehashed else algorithm
    name = _HASH_NAMES.get(getattr(alg, "name", ""))
    if name is None:
        raise HsmError(f"unsupported hash algorithm {getattr(alg, 'name', alg)!r}")
    return name, prehashed


class HsmRSAPrivateKey(rsa.RSAPrivateKey):
    def __init__(self, backend: KeyBackend, label: str, public: rsa.RSAPublicKey) -> None:
        self.backend = backend
        self.label = label
        self._public = public

    def sign(
        self,
        data: bytes,
        padding: padding.AsymmetricPadding,
        algorithm: Any,
    ) -> bytes:
        name, prehashed = _hash_name(algorithm)
        if isinstance(padding, _PKCS1v15):
            return self.backend.sign(
                self.label, data, name, SignScheme.PKCS1V15, prehashed=prehashed
            )
        if isinstance(padding, _PSS):
            return self.backend.sign(
                self.label,
                data,
                name,
                SignScheme.PSS,
                prehashed=prehashed,
                pss_salt_length=_pss_salt(padding, name, self.key_size),
            )
        raise HsmError(f"unsupported RSA padding {padding.name}")

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        raise UnsupportedError("psre keys sign only")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        raise UnsupportedError(f"key '{self.label}' never leaves the HSM")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise UnsupportedError(f"key '{self.label}' never leaves the HSM")

    def __copy__(self) -> HsmRSAPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> HsmRSAPrivateKey:
        return self

    def __repr__(self) -> str:
        return f"<HsmRSAPrivateKey {self.label!r} {self.key_size} bits>"


class HsmECPrivateKey(ec.EllipticCurvePrivateKey):
    def __init__(self, backend: KeyBackend, label: str, public: ec.EllipticCurvePublicKey) -> None:
        self.backend = backend
        self.label = label
        self._public = public

    def sign(
        self,
        data: bytes | bytearray | memoryview,
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise HsmError("only ECDSA is supported")
        name, prehashed = _hash_name(signature_algorithm.algorithm)
        return self.backend.sign(
            self.label, bytes(data), name, SignScheme.ECDSA, prehashed=prehashed
        )

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise UnsupportedError("psre keys sign only")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise UnsupportedError(f"key '{self.label}' never leaves the HSM")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise UnsupportedError(f"key '{self.label}' never leaves the HSM")

    def __copy__(self) -> HsmECPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> HsmECPrivateKey:
        return self

    def __repr__(self) -> str:
        return f"<HsmECPrivateKey {self.label!r} {self.curve.name}>"


HsmPrivateKey = HsmRSAPrivateKey | HsmECPrivateKey


def private_key(backend: KeyBackend, label: str) -> HsmPrivateKey:
    """A cryptography-compatible private key signing through ``backend`` with key ``label``."""
    pub = backend.public_key(label)
    if isinstance(pub, rsa.RSAPublicKey):
        return HsmRSAPrivateKey(backend, label, pub)
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return HsmECPrivateKey(backend, label, pub)
    raise HsmError(f"key '{label}' has an unsupported type")


def default_hash(key: HsmPrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """The hash to pair with a key (P-384 → SHA-384, everything else SHA-256)."""
    if isinstance(key, HsmECPrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def spec_of(key: HsmPrivateKey) -> KeySpec:
    if isinstance(key, HsmRSAPrivateKey):
        return KeySpec(f"rsa-{key.key_size}")
    return {"secp256r1": KeySpec.EC_P256, "secp384r1": KeySpec.EC_P384}[key.curve.name]


_PKCS1v15 = padding.PKCS1v15
_PSS = padding.PSS


def _pss_salt(pad: padding.PSS, hash_name: str, key_bits: int) -> int:
    digest_len = {"sha256": 32, "sha384": 48, "sha512": 64}[hash_name]
    salt = pad._salt_length
    if isinstance(salt, int):
        return salt
    if isinstance(salt, padding._MaxLength):
        return (key_bits + 7) // 8 - digest_len - 2
    # DIGEST_LENGTH, and AUTO (which only makes sense for verification): use the digest length.
    return digest_len
