"""Refuse weak or disallowed public keys before a certificate is issued over them.

The rules come from the CA/B Forum Baseline Requirements (6.1.1.3: reject weak, Debian-weak
and compromised keys; 6.1.5: key sizes; 6.1.6: RSA exponent and EC point validity), Mozilla Root
Store Policy 5.1 (RSA moduli of at least 2048 bits divisible by 8; EC keys on P-256 or P-384
only) and psre's standards checklist (RSA exponent exactly 65537; each profile lists the key
types it accepts by the ``hsm.KeySpec`` names, e.g. "rsa-3072" or "ec-p256").

``check_public_key`` returns the key's spec name or raises ``WeakKeyError``, whose message names
the field and the exact reason, so the operator or the applicant can act on it.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from ca_core.errors import CaError
from hsm.backend import KeySpec

__all__ = [
    "DEFAULT_DEBIAN_BLOCKLIST",
    "FERMAT_ROUNDS",
    "KNOWN_SPECS",
    "MIN_RSA_BITS",
    "RSA_EXPONENT",
    "DebianWeakKeys",
    "WeakKeyError",
    "check_public_key",
    "debian_fingerprint",
    "is_roca_modulus",
    "spki_sha256",
]

#: psre's checklist fixes the exponent (BR 6.1.6 only requires an odd e >= 3, 2^16+1 or more
#: recommended).
RSA_EXPONENT = 65537
#: BR 6.1.5 and Mozilla Root Store Policy 5.1.
MIN_RSA_BITS = 2048
#: Fermat rounds from ceil(sqrt(n)): finds any factorisation with |p - q| < ~2^(bits/4 + 4.8).
FERMAT_ROUNDS = 100

#: The spec names a profile may list; the key backend creates exactly these key types.
KNOWN_SPECS: frozenset[str] = frozenset(spec.value for spec in KeySpec)

#: The shipped, empty-by-default Debian weak-key list (see the header of the file).
DEFAULT_DEBIAN_BLOCKLIST: Traversable = (
    resources.files("policies") / "blocklists" / "debian-weak-keys.txt"
)

# Spec names for curves; curves outside KNOWN_SPECS still get a readable name in the refusal.
_CURVE_SPECS = {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}

_OTHER_KEY_TYPES: tuple[tuple[type, str], ...] = (
    (ed25519.Ed25519PublicKey, "ed25519"),
    (ed448.Ed448PublicKey, "ed448"),
    (x25519.X25519PublicKey, "x25519"),
    (x448.X448PublicKey, "x448"),
)


class WeakKeyError(CaError):
    """The public key must not be certified; ``reason`` says why."""

    code = "weak_key"

    def __init__(self, reason: str) -> None:
        super().__init__(f"public key: {reason}")
        self.reason = reason


def _primes_below(limit: int) -> tuple[int, ...]:
    sieve = bytearray([1]) * limit
    sieve[:2] = b"\x00\x00"
    for i in range(2, math.isqrt(limit - 1) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, limit, i)))
    return tuple(i for i, is_prime in enumerate(sieve) if is_prime)


# A properly generated RSA prime has no small factors, so one gcd against the product of the
# primes below 1000 catches broken generators and hand-made moduli cheaply.
_SMALL_PRIMES = _primes_below(1000)
_SMALL_PRIMES_PRODUCT = math.prod(_SMALL_PRIMES)


# ROCA (CVE-2017-15361; Nemec et al., "The Return of Coppersmith's Attack", CCS 2017). Infineon's
# RSALib builds every prime as p = k*M + (65537^a mod M), M a primorial. Every such M is a
# multiple of 167# (the product of the 39 primes up to 167, the M of 512-bit keys), so for each of
# those primes r: n = p*q = 65537^(a+b) (mod r). Therefore n mod 167# lies in the subgroup that
# 65537 generates in (Z/167#)*. The test is the paper's discrete-logarithm fingerprint: find
# the discrete log c_r of n mod r for every r, then check the congruences c = c_r (mod ord_r(65537))
# have a common solution c. A random modulus passes with probability below 2^-27; checking the
# primes one by one without the common c would accept moduli crafted to look like ROCA keys.
_ROCA_GENERATOR = 65537


def _discrete_log_table(r: int) -> tuple[int, dict[int, int], int]:
    """(r, {65537^k mod r: k}, ord_r(65537)) for one small prime r."""
    logs: dict[int, int] = {}
    power = 1
    while power not in logs:
        logs[power] = len(logs)
        power = power * _ROCA_GENERATOR % r
    return r, logs, len(logs)


_ROCA_TABLES = tuple(_discrete_log_table(r) for r in _SMALL_PRIMES if r <= 167)


def _merge_congruences(c1: int, m1: int, c2: int, m2: int) -> tuple[int, int] | None:
    """Solve x = c1 (mod m1), x = c2 (mod m2) for non-coprime moduli: (x, lcm) or None."""
    g = math.gcd(m1, m2)
    if (c2 - c1) % g:
        return None
    step = m2 // g
    t = (c2 - c1) // g * pow(m1 // g, -1, step) % step
    lcm = m1 * step
    return (c1 + m1 * t) % lcm, lcm


def is_roca_modulus(n: int) -> bool:
    """True when the RSA modulus carries the ROCA fingerprint (CVE-2017-15361)."""
    c, m = 0, 1
    for r, logs, order in _ROCA_TABLES:
        c_r = logs.get(n % r)
        if c_r is None:
            return False
        merged = _merge_congruences(c, m, c_r, order)
        if merged is None:
            return False
        c, m = merged
    return True


def _fermat_factor(n: int, rounds: int) -> int | None:
    """A factor of n if its two primes are close enough for Fermat's method, else None.

    n = a^2 - b^2 = (a - b)(a + b); starting at a = ceil(sqrt(n)), when p and q share their top
    half of bits a^2 - n is a perfect square within a few steps (cf. CVE-2022-26320, a key
    generation library that searched for q just above p).
    """
    a = math.isqrt(n)
    if a * a < n:
        a += 1
    for _ in range(rounds):
        b2 = a * a - n
        b = math.isqrt(b2)
        if b * b == b2:
            return a - b
        a += 1
    return None


def debian_fingerprint(modulus: int) -> str:
    """openssl-vulnkey's key id: last 20 hex digits of SHA-1("Modulus=<HEX MODULUS>\\n")."""
    line = f"Modulus={modulus:X}\n".encode("ascii")
    return hashlib.sha1(line, usedforsecurity=False).hexdigest()[20:]


_FINGERPRINT_LINE = re.compile(r"[0-9a-f]{20}")


@dataclass(frozen=True)
class DebianWeakKeys:
    """RSA keys from Debian's broken OpenSSL (CVE-2008-0166), by openssl-vulnkey fingerprint."""

    fingerprints: frozenset[str]

    @classmethod
    def load(cls, path: str | os.PathLike[str] | Traversable) -> DebianWeakKeys:
        """Read a blocklist in the openssl-blacklist format; ValueError names a bad line."""
        source = path if isinstance(path, Traversable) else Path(path)
        text = source.read_text(encoding="ascii")
        found: set[str] = set()
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip().lower()
            if not line or line.startswith("#"):
                continue
            if not _FINGERPRINT_LINE.fullmatch(line):
                raise ValueError(
                    f"{path}: line {number}: expected 20 hexadecimal digits, got {raw.strip()!r}"
                )
            found.add(line)
        return cls(frozenset(found))

    def contains(self, public_key: rsa.RSAPublicKey) -> bool:
        """True when the key's modulus is on the list."""
        return debian_fingerprint(public_key.public_numbers().n) in self.fingerprints


def spki_sha256(public_key: PublicKeyTypes) -> str:
    """Lower-case hex SHA-256 over the DER SubjectPublicKeyInfo (the compromised-key list id)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _allowed_text(allowed: Collection[str]) -> str:
    return ", ".join(sorted(allowed)) or "none"


def _check_rsa(
    public_key: rsa.RSAPublicKey, allowed: Collection[str], debian: DebianWeakKeys | None
) -> str:
    numbers = public_key.public_numbers()
    n, e = numbers.n, numbers.e
    bits = n.bit_length()
    if e != RSA_EXPONENT:
        raise WeakKeyError(f"RSA exponent {e} is not {RSA_EXPONENT}")
    if bits < MIN_RSA_BITS:
        raise WeakKeyError(f"RSA modulus must be at least {MIN_RSA_BITS} bits (got {bits})")
    if bits % 8:
        raise WeakKeyError(f"RSA modulus size {bits} bits is not a multiple of 8")
    spec = f"rsa-{bits}"
    if spec not in allowed:
        raise WeakKeyError(
            f"RSA modulus {bits} bits not allowed by the profile "
            f"(allowed: {_allowed_text(allowed)})"
        )
    if math.gcd(n, _SMALL_PRIMES_PRODUCT) != 1:
        factor = next(p for p in _SMALL_PRIMES if n % p == 0)
        raise WeakKeyError(f"RSA modulus is divisible by the small prime {factor}")
    if is_roca_modulus(n):
        raise WeakKeyError("ROCA-vulnerable (CVE-2017-15361)")
    if _fermat_factor(n, FERMAT_ROUNDS) is not None:
        raise WeakKeyError("primes too close (Fermat-factorable)")
    if debian is not None and debian.contains(public_key):
        raise WeakKeyError("Debian weak key (CVE-2008-0166)")
    return spec


def _key_type_name(public_key: PublicKeyTypes) -> str:
    for cls, name in _OTHER_KEY_TYPES:
        if isinstance(public_key, cls):
            return name
    # DSA is named by its class rather than through ``dsa.DSAPublicKey``: touching that module
    # attribute makes cryptography print a deprecation warning on every command.
    return _CLASS_NAMES.get(type(public_key).__name__, type(public_key).__name__)


_CLASS_NAMES = {"DSAPublicKey": "dsa"}


def check_public_key(
    public_key: PublicKeyTypes,
    allowed: Collection[str],
    *,
    blocked_spki_sha256: Collection[str] = (),
    debian: DebianWeakKeys | None = None,
) -> str:
    """The key's spec name ("rsa-3072", "ec-p256", ...) if the profile may certify it.

    ``allowed`` holds the profile's spec names (unknown names are a programming or policy error:
    ValueError). ``blocked_spki_sha256`` holds ``spki_sha256`` values of keys known to be
    compromised (BR 6.1.1.3), in lower case. Raises WeakKeyError otherwise.
    """
    unknown = set(allowed) - KNOWN_SPECS
    if unknown:
        raise ValueError(
            f"unknown key spec(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(KNOWN_SPECS))})"
        )
    digest = spki_sha256(public_key)
    if digest in blocked_spki_sha256:
        raise WeakKeyError(f"listed as compromised (SPKI SHA-256 {digest})")
    if isinstance(public_key, rsa.RSAPublicKey):
        return _check_rsa(public_key, allowed, debian)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        # cryptography refuses a point that is not on the curve when it loads a key; on P-256 and
        # P-384 (cofactor 1) that is the full public key validation of NIST SP 800-56A Rev. 3
        # 5.6.2.3.3 that BR 6.1.6 asks for, so nothing is repeated here.
        spec = _CURVE_SPECS.get(public_key.curve.name, f"ec-{public_key.curve.name}")
        if spec not in allowed:
            raise WeakKeyError(
                f"key type {spec} not allowed by the profile (allowed: {_allowed_text(allowed)})"
            )
        return spec
    raise WeakKeyError(
        f"key type {_key_type_name(public_key)} not allowed (only RSA and EC P-256/P-384 keys)"
    )
