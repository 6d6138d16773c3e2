"""The only code in psre that touches private keys: a PKCS#11 key backend (SoftHSM2 by default)."""

from hsm.backend import KeyBackend, KeyInfo, KeySpec, SignScheme
from hsm.errors import (
    HsmError,
    HsmLoginError,
    KeyExistsError,
    KeyNotFoundError,
    UnsupportedError,
)

__all__ = [
    "HsmError",
    "HsmLoginError",
    "KeyBackend",
    "KeyExistsError",
    "KeyInfo",
    "KeyNotFoundError",
    "KeySpec",
    "SignScheme",
    "UnsupportedError",
]
