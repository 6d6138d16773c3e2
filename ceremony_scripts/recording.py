"""A key backend wrapper that records the PKCS#11 calls a ceremony step makes.

The transcript lists, per step, which token functions were called on which key with which
mechanism (the issue's "PKCS#11 calls made"). Recording at the ``KeyBackend`` seam keeps
hsm/ unchanged: each method maps to the PKCS#11 functions ``Pkcs11Backend`` uses for it.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from hsm.backend import KeyInfo, KeySpec, SecretKeyInfo, SignScheme
from hsm.pkcs11_backend import Pkcs11Backend

_SIGN_MECH = {
    SignScheme.ECDSA: "CKM_ECDSA_{h}",
    SignScheme.PKCS1V15: "CKM_{h}_RSA_PKCS",
    SignScheme.PSS: "CKM_{h}_RSA_PKCS_PSS",
}


class RecordingBackend:
    """Delegates to a ``Pkcs11Backend`` and appends one line per token operation to ``calls``."""

    def __init__(self, inner: Pkcs11Backend) -> None:
        self.inner = inner
        self.token_label = inner.token_label
        self.calls: list[str] = []

    def take(self) -> list[str]:
        """The calls since the last take (one step's worth)."""
        out, self.calls = self.calls, []
        return out

    def generate(self, label: str, spec: KeySpec) -> KeyInfo:
        mech = "CKM_RSA_PKCS_KEY_PAIR_GEN" if spec.is_rsa else "CKM_EC_KEY_PAIR_GEN"
        self.calls.append(
            f"C_GenerateKeyPair({mech}, {spec.value}, label={label}, "
            "CKA_SENSITIVE=true, CKA_EXTRACTABLE=false)"
        )
        return self.inner.generate(label, spec)

    def info(self, label: str) -> KeyInfo:
        self.calls.append(f"C_FindObjects+C_GetAttributeValue(label={label})")
        return self.inner.info(label)

    def list_keys(self) -> list[KeyInfo]:
        self.calls.append("C_FindObjects(CKO_PRIVATE_KEY)")
        return self.inner.list_keys()

    def public_key(self, label: str) -> PublicKeyTypes:
        self.calls.append(f"C_GetAttributeValue(CKO_PUBLIC_KEY label={label})")
        return self.inner.public_key(label)

    def sign(
        self,
        label: str,
        data: bytes,
        hash_name: str,
        scheme: SignScheme,
        *,
        prehashed: bool = False,
        pss_salt_length: int | None = None,
    ) -> bytes:
        mech = _SIGN_MECH[scheme].format(h=hash_name.upper())
        if prehashed:
            mech = f"{mech.split('_')[0]}_{scheme.name} (pre-hashed {hash_name})"
        self.calls.append(f"C_SignInit+C_Sign({mech}, label={label})")
        return self.inner.sign(
            label, data, hash_name, scheme, prehashed=prehashed, pss_salt_length=pss_salt_length
        )

    def ensure_mac_key(self, label: str) -> SecretKeyInfo:
        self.calls.append(f"C_FindObjects(CKO_SECRET_KEY label={label}) or C_GenerateKey")
        return self.inner.ensure_mac_key(label)

    def mac(self, label: str, data: bytes) -> bytes:
        self.calls.append(f"C_SignInit+C_Sign(CKM_SHA256_HMAC, label={label})")
        return self.inner.mac(label, data)

    def delete(self, label: str) -> None:
        self.calls.append(f"C_DestroyObject(label={label}, private and public)")
        self.inner.delete(label)

    def mechanisms(self) -> Any:
        self.calls.append("C_GetMechanismList")
        return self.inner.mechanisms()

    def health(self) -> dict[str, object]:
        return self.inner.health()

    def close(self) -> None:
        self.inner.close()
