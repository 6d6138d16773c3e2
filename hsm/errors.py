"""Errors of the key backend. Messages name tokens and key labels, never PINs or key material."""

from __future__ import annotations


class HsmError(Exception):
    """Base of every error raised by hsm/."""

    code = "hsm_error"


class HsmLoginError(HsmError):
    """Login to the token failed (wrong PIN, locked PIN, no PIN available)."""

    code = "hsm_login_failed"


class TokenNotFoundError(HsmError):
    code = "hsm_token_not_found"


class KeyNotFoundError(HsmError):
    code = "hsm_key_not_found"


class KeyExistsError(HsmError):
    code = "hsm_key_exists"


class UnsupportedError(HsmError):
    """The operation is not possible with a key that never leaves the token (export, decrypt…)."""

    code = "hsm_unsupported"
