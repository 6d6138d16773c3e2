"""The request fields of CSC 2.0 and their CSC 1.0.4 spellings (pyHanko's ``CSCSigner`` sends
``hash``, ``hashAlgo``, ``PIN`` and ``OTP`` whatever the version in the path): both are
accepted under ``/csc/v1/`` and ``/csc/v2/``; giving both spellings of one field is refused."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from signing_api.csc.errors import invalid, missing

#: Digest OIDs CSC clients name, with the hash's name and size.
HASH_OIDS: dict[str, tuple[str, int]] = {
    "2.16.840.1.101.3.4.2.1": ("sha256", 32),
    "2.16.840.1.101.3.4.2.2": ("sha384", 48),
    "2.16.840.1.101.3.4.2.3": ("sha512", 64),
}
_SIZES = {size for _, size in HASH_OIDS.values()}


def text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise missing(name)
    return value


def either(body: dict[str, Any], v2: str, v1: str) -> Any:
    if v2 in body and v1 in body:
        raise invalid(v1, f"give {v2} or {v1}, not both")
    return body.get(v2, body.get(v1))


def hashes(body: dict[str, Any], limit: int, *, required: bool = True) -> list[bytes]:
    """``hashes`` (v2) or ``hash`` (v1): base64 digests, each of a size some digest has."""
    value = either(body, "hashes", "hash")
    if value is None or value == []:
        if required:
            raise missing("hashes")
        return []
    if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
        raise invalid("hashes", "must be a list of base64 strings")
    if len(value) > limit:
        raise invalid("hashes", f"at most {limit} per request (multisign)")
    out = []
    for h in value:
        try:
            raw = base64.b64decode(h, validate=True)
        except (binascii.Error, ValueError):
            raise invalid("hashes", "not base64") from None
        if len(raw) not in _SIZES:
            raise invalid("hashes", "each must be a SHA-256, SHA-384 or SHA-512 digest")
        out.append(raw)
    return out


def hash_oid(body: dict[str, Any], *, required: bool) -> str | None:
    """``hashAlgorithmOID`` (v2) or ``hashAlgo`` (v1), one of :data:`HASH_OIDS`."""
    value = either(body, "hashAlgorithmOID", "hashAlgo")
    if value is None or value == "":
        if required:
            raise missing("hashAlgorithmOID")
        return None
    if not isinstance(value, str) or value not in HASH_OIDS:
        raise invalid("hashAlgorithmOID", "SHA-256, SHA-384 or SHA-512 by OID")
    return value


@dataclass(frozen=True)
class AuthData:
    """What activates a credential: ``method`` is "PIN" or "OTP"."""

    method: str
    value: str


def auth_data(body: dict[str, Any]) -> AuthData:
    """``authData: [{id, value}]`` (v2) or ``PIN`` / ``OTP`` (v1): exactly one of them."""
    found: list[AuthData] = []
    items = body.get("authData")
    if items is not None:
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise invalid("authData", "must be a list of {id, value}")
        for item in items:
            key, value = item.get("id"), item.get("value")
            if key not in ("PIN", "OTP") or not isinstance(value, str) or not value:
                raise invalid("authData", "each item is {id: PIN or OTP, value: string}")
            found.append(AuthData(key, value))
    for key in ("PIN", "OTP"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise invalid(key, "must be a string")
            found.append(AuthData(key, value))
    if not found:
        raise missing("authData")
    if len(found) > 1:
        raise invalid("authData", "give one PIN or one OTP")
    return found[0]


def count(body: dict[str, Any], name: str, default: int | None, limit: int) -> int:
    value = body.get(name, default)
    if value is None:
        raise missing(name)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise invalid(name, f"a number from 1 to {limit}")
    return value
