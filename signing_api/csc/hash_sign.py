"""``signAlgo`` (+ ``signAlgoParams``) of signatures/signHash to one HSM signature scheme.

ECDSA (with or without the hash in the OID), RSA PKCS#1 v1.5 and RSASSA-PSS whose parameters
(DER RSASSA-PSS-params, base64) must name the request's hash for both the digest and MGF1; the
salt length is taken from them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from asn1crypto import algos

from hsm.backend import SignScheme
from signing_api.csc.errors import invalid

_OIDS: dict[str, tuple[SignScheme, str | None, str]] = {
    "1.2.840.10045.2.1": (SignScheme.ECDSA, None, "ec"),
    "1.2.840.10045.4.3.2": (SignScheme.ECDSA, "sha256", "ec"),
    "1.2.840.10045.4.3.3": (SignScheme.ECDSA, "sha384", "ec"),
    "1.2.840.10045.4.3.4": (SignScheme.ECDSA, "sha512", "ec"),
    "1.2.840.113549.1.1.1": (SignScheme.PKCS1V15, None, "rsa"),
    "1.2.840.113549.1.1.11": (SignScheme.PKCS1V15, "sha256", "rsa"),
    "1.2.840.113549.1.1.12": (SignScheme.PKCS1V15, "sha384", "rsa"),
    "1.2.840.113549.1.1.13": (SignScheme.PKCS1V15, "sha512", "rsa"),
    "1.2.840.113549.1.1.10": (SignScheme.PSS, None, "rsa"),
}


@dataclass(frozen=True)
class Scheme:
    scheme: SignScheme
    pss_salt_length: int | None = None


def scheme_for(sign_algo: str | None, params_b64: str | None, hash_name: str, key: str) -> Scheme:
    """The scheme for ``sign_algo`` with a key of type ``key`` ("ec"/"rsa") over ``hash_name``
    digests; invalid_request for anything else (a mismatched hash, a PSS without parameters)."""
    if not sign_algo or sign_algo not in _OIDS:
        raise invalid("signAlgo", "ECDSA, RSA PKCS#1 v1.5 or RSASSA-PSS by OID")
    scheme, bound_hash, key_type = _OIDS[sign_algo]
    if key_type != key:
        raise invalid("signAlgo", f"the credential's key is {key.upper()}")
    if bound_hash is not None and bound_hash != hash_name:
        raise invalid("signAlgo", f"names {bound_hash}, the hashes are {hash_name}")
    if scheme is not SignScheme.PSS:
        if params_b64:
            raise invalid("signAlgoParams", "only RSASSA-PSS takes parameters")
        return Scheme(scheme)
    if not params_b64:
        raise invalid("signAlgoParams", "RSASSA-PSS needs its parameters")
    try:
        params = algos.RSASSAPSSParams.load(base64.b64decode(params_b64, validate=True))
        digest = params["hash_algorithm"]["algorithm"].native
        mgf = params["mask_gen_algorithm"]
        mgf_hash = mgf["parameters"]["algorithm"].native
        salt = int(params["salt_length"].native)
        trailer = params["trailer_field"].native
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise invalid("signAlgoParams", "not DER RSASSA-PSS-params") from None
    if digest != hash_name or mgf["algorithm"].native != "mgf1" or mgf_hash != hash_name:
        raise invalid("signAlgoParams", f"digest and MGF1 must both be {hash_name}")
    if not 0 <= salt <= 512 or trailer != "trailer_field_bc":
        raise invalid("signAlgoParams", "salt length or trailer field out of range")
    return Scheme(scheme, salt)
