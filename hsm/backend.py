"""The key backend interface and its value types.

A ``KeyBackend`` creates key pairs inside a token, hands out their public keys and signs with
them. Nothing else in psre holds private keys: the CA, CRL, OCSP and PDF signers all sign through
``HsmPrivateKey`` objects (``hsm.keys``) that call back into a backend.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes


class KeySpec(enum.Enum):
    """Key types a PSrE uses (profiles.md): RSA 2048/3072/4096, EC P-256/P-384."""

    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"

    @classmethod
    def parse(cls, name: str) -> KeySpec:
        try:
            return cls(name.lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown key type {name!r} (known: {known})") from None

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("rsa-")

    @property
    def rsa_bits(self) -> int:
        return int(self.value.split("-")[1])

    @property
    def curve_name(self) -> str:
        """The SEC/OpenSSL name of the curve (python-pkcs11 and cryptography both know it)."""
        return {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}[self.value]

    @property
    def default_hash(self) -> str:
        # Match hash strength to key strength (BR 7.1.3.2): P-384 signs with SHA-384.
        return "sha384" if self is KeySpec.EC_P384 else "sha256"


class SignScheme(enum.Enum):
    PKCS1V15 = "pkcs1v15"
    PSS = "pss"
    ECDSA = "ecdsa"


HASHES = ("sha256", "sha384", "sha512")


@dataclass(frozen=True)
class KeyInfo:
    """What the backend knows about one key pair on the token."""

    label: str
    key_id: bytes
    spec: KeySpec
    #: CKA_SENSITIVE and CKA_EXTRACTABLE as the token reports them for the private key.
    sensitive: bool
    extractable: bool

    @property
    def uri(self) -> str:
        """RFC 7512 style name, without the token (the backend knows its token)."""
        return f"pkcs11:object={self.label};type=private"


class KeyBackend(Protocol):
    """What the rest of psre needs from a key store."""

    token_label: str

    def generate(self, label: str, spec: KeySpec) -> KeyInfo: ...

    def info(self, label: str) -> KeyInfo: ...

    def list_keys(self) -> list[KeyInfo]: ...

    def public_key(self, label: str) -> PublicKeyTypes: ...

    def sign(
        self,
        label: str,
        data: bytes,
        hash_name: str,
        scheme: SignScheme,
        *,
        prehashed: bool = False,
        pss_salt_length: int | None = None,
    ) -> bytes: ...

    def health(self) -> dict[str, object]: ...

    def close(self) -> None: ...
