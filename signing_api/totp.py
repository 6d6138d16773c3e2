"""One-time codes for signer activation: RFC 6238 TOTP over a fresh random key per code.

Each code request draws a new 160-bit key and takes the RFC 6238 value of the current time step
(HOTP, RFC 4226, HMAC-SHA1, dynamic truncation); the key is then thrown away. What the database
keeps is an HMAC-SHA256 of the per-code salt and the code, computed *inside the HSM* under a
secret key that never leaves it (``CODE_MAC_KEY``: sensitive, not extractable). A key kept next
to the code, as the salt alone was, would let anyone who reads the database try all 10^6 codes
in a second; without the HSM key the row reveals nothing, and the lockout counter bounds
guessing through the API. Every worker and every host sharing the token computes the same MAC.

Rows written before the key existed (salt-keyed HMAC) simply no longer match: codes live
``signing.totp_seconds`` (minutes), so the signer just asks for a new one. When the token is
unavailable a code can be neither issued nor checked: the request fails closed (HsmError, the
API's 503) and no failed attempt is counted against the signer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
from dataclasses import dataclass

from hsm.backend import KeyBackend

#: Label of the HSM secret key that MACs one-time codes (made by ``psre init`` or on first use).
CODE_MAC_KEY = "psre-code-mac"
# Binds the MAC to this use and layout, so the key could serve another purpose without overlap.
_DOMAIN = b"psre/otp/v1\0"


def hotp(key: bytes, counter: int, digits: int = 6) -> str:
    """RFC 4226 §5.3: HOTP value of ``counter`` under ``key``."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp(key: bytes, at: float, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 §4.2: TOTP at Unix time ``at`` (T0 = 0)."""
    return hotp(key, int(at) // step, digits)


def new_code(step: int, digits: int) -> str:
    """A fresh TOTP from a throwaway key (see the module comment)."""
    return totp(secrets.token_bytes(20), time.time(), step, digits)


@dataclass(frozen=True)
class CodeMac:
    """Keyed digests of one-time codes, computed by the HSM (see the module comment)."""

    backend: KeyBackend
    label: str = CODE_MAC_KEY

    def digest(self, code: str, salt: str) -> str:
        """64 hex characters: HMAC-SHA256(HSM key, domain || salt || NUL || code)."""
        # The salt is fixed-length hex and the NUL separates it from the code: no two
        # (salt, code) pairs give the same input.
        data = _DOMAIN + salt.encode() + b"\0" + code.encode()
        return self.backend.mac(self.label, data).hex()

    def matches(self, code: str, salt: str, stored: str) -> bool:
        return hmac.compare_digest(self.digest(code, salt), stored)
