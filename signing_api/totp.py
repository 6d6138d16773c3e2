"""One-time codes for signer activation: RFC 6238 TOTP over a fresh random key per code.

Each code request draws a new 160-bit key and takes the RFC 6238 value of the current time step
(HOTP, RFC 4226, HMAC-SHA1, dynamic truncation); the key is then thrown away. What the database
keeps is an HMAC-SHA256 of the code under a random per-code salt — enough to check it, useless
to read it back — and the lockout counter bounds guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time


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


def code_hmac(code: str, salt: str) -> str:
    return hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()


def matches(code: str, salt: str, stored: str) -> bool:
    return hmac.compare_digest(code_hmac(code, salt), stored)
