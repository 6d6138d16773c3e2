"""K-of-N secret sharing of a token PIN: Shamir's scheme over GF(2^8), written out here.

Why our own and not a library: the whole scheme is ~60 lines of arithmetic, and the Python
packages that offer it either share 128-bit integers only (so a PIN needs its own encoding and
padding anyway) or bring no integrity check at all; what a ceremony needs on top — refusing a
typo'd share, a share of another split, and a share crafted to rebuild the wrong PIN — is the
framing below, which no package provides. The field is the AES field, GF(2)[x]/(x^8+x^4+x^3+x+1),
the same as in SLIP-0039 and HashiCorp Vault's shamir package, so the arithmetic can be checked
against known tables (the tests compare it with a bit-by-bit multiplication).

What is shared is not the PIN itself but a fixed-size *payload*::

    payload = len(pin) || pin || random padding to PIN_MAX || r (16 random bytes)

Each byte of the payload is the constant term of its own random polynomial of degree K-1, and a
share is the payload's polynomials evaluated at x (1..N). Any K shares give the polynomials back
by Lagrange interpolation at 0; K-1 shares are consistent with *every* payload (for each
candidate secret there is exactly one polynomial through them), so they reveal nothing,
not even the PIN's length (padding).

Every share carries, in clear:

- ``split``: 8 random bytes naming this split, so a share of another split is refused by name;
- ``tag``: HMAC-SHA256(key=payload, "psre-share-v1" || split || K || N), truncated to 16 bytes.
  After interpolation the tag is recomputed; a share altered consistently with its checksum (or
  a foreign share relabelled with this split's id) rebuilds another payload and is refused. The
  tag cannot be used to test PIN guesses: its key includes ``r``, 128 bits nobody with fewer
  than K shares knows;
- ``check``: the first 4 bytes of SHA-256 over the share's other fields, so a mistyped share is
  refused and named before anything else happens.

Limits (reviewed in the ceremony note): Python cannot wipe ``str``/``bytes``, so the rebuilt PIN
lives in process memory until garbage-collected (the process is the ceremony's and ends with
it); table look-ups are not constant-time, which matters only to an attacker who can time the
ceremony laptop's CPU caches while it runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from ceremony_scripts.errors import ShareError

PREFIX = "psre-share-v1"
#: Longest PIN (UTF-8 bytes) a split can hold; every payload is padded to it.
PIN_MAX = 48
_R_LEN = 16
_PAYLOAD_LEN = 1 + PIN_MAX + _R_LEN
_SPLIT_LEN = 8
_TAG_LEN = 16
_CHECK_LEN = 4

# --- GF(2^8) ------------------------------------------------------------------------------------
_POLY = 0x11B  # x^8 + x^4 + x^3 + x + 1 (the AES field)
_EXP = [0] * 510
_LOG = [0] * 256


def _init_tables() -> None:
    x = 1
    for i in range(255):
        _EXP[i] = x
        _LOG[x] = i
        # multiply by the generator 3 = x + 1: x*2 (with reduction) xor x
        doubled = x << 1
        if doubled & 0x100:
            doubled ^= _POLY
        x = doubled ^ x
    for i in range(255, 510):  # so that _EXP[log a + log b] needs no "mod 255"
        _EXP[i] = _EXP[i - 255]


_init_tables()


def gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_inv(a: int) -> int:
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(256)")
    return _EXP[255 - _LOG[a]]


def _eval(coeffs: Sequence[int], x: int) -> int:
    """The polynomial with ``coeffs`` (constant term first) at ``x``, by Horner's rule."""
    y = 0
    for c in reversed(coeffs):
        y = gf_mul(y, x) ^ c
    return y


def _interpolate_at_zero(points: Sequence[tuple[int, int]]) -> int:
    """Lagrange interpolation at 0. In GF(2^8) subtraction is xor, so (0 - xj)/(xi - xj) is
    xj / (xi ^ xj)."""
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = gf_mul(num, xj)
                den = gf_mul(den, xi ^ xj)
        total ^= gf_mul(yi, gf_mul(num, gf_inv(den)))
    return total


def split_bytes(secret: bytes, k: int, n: int) -> list[tuple[int, bytes]]:
    """Raw Shamir: ``n`` points (x, y-bytes), any ``k`` of which give ``secret`` back."""
    if not 2 <= k <= n <= 255:
        raise ShareError(f"need 2 <= K <= N <= 255 (got K={k}, N={n})")
    polys = [[b, *secrets.token_bytes(k - 1)] for b in secret]
    return [(x, bytes(_eval(p, x) for p in polys)) for x in range(1, n + 1)]


def combine_bytes(points: Sequence[tuple[int, bytes]]) -> bytes:
    """Raw Shamir: the secret through ``points`` (distinct non-zero x, equal-length y)."""
    length = len(points[0][1])
    return bytes(_interpolate_at_zero([(x, y[i]) for x, y in points]) for i in range(length))


# --- framed shares ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Share:
    split_id: str  # hex
    k: int
    n: int
    x: int
    y: bytes
    tag: bytes

    def encode(self) -> str:
        fields = (PREFIX, self.split_id, f"{self.k}-of-{self.n}", str(self.x), self.y.hex())
        body = ".".join((*fields, self.tag.hex()))
        return f"{body}.{_check(body)}"


def _check(body: str) -> str:
    return hashlib.sha256(body.encode("ascii")).digest()[:_CHECK_LEN].hex()


def _tag(payload: bytes, split_id: bytes, k: int, n: int) -> bytes:
    msg = PREFIX.encode() + split_id + bytes([k, n])
    return hmac.new(payload, msg, hashlib.sha256).digest()[:_TAG_LEN]


@dataclass(frozen=True)
class Split:
    split_id: str
    k: int
    n: int
    shares: tuple[str, ...]


def split_secret(secret: str, k: int, n: int) -> Split:
    """Split ``secret`` (a PIN) into ``n`` encoded shares, ``k`` of which rebuild it."""
    raw = secret.encode("utf-8")
    if not raw:
        raise ShareError("the secret is empty")
    if len(raw) > PIN_MAX:
        raise ShareError(f"the secret is longer than {PIN_MAX} bytes")
    payload = (
        bytes([len(raw)])
        + raw
        + secrets.token_bytes(PIN_MAX - len(raw))
        + secrets.token_bytes(_R_LEN)
    )
    split_id = secrets.token_bytes(_SPLIT_LEN)
    tag = _tag(payload, split_id, k, n)
    points = split_bytes(payload, k, n)
    shares = tuple(Share(split_id.hex(), k, n, x, y, tag).encode() for x, y in points)
    return Split(split_id.hex(), k, n, shares)


def parse_share(text: str, position: int = 1) -> Share:
    """Decode one share; ``position`` (1-based, as entered) names it in refusals."""
    text = "".join(text.split())  # custodians may copy it with line breaks or spaces
    body, _, check = text.rpartition(".")
    parts = body.split(".")
    if len(parts) != 6 or parts[0] != PREFIX:
        raise ShareError(f"share {position} is not a psre share ({PREFIX}.…)")
    if not hmac.compare_digest(_check(body), check.lower()):
        raise ShareError(f"share {position} is corrupted (its checksum does not match)")
    _, split_id, kn, x, y, tag = parts
    try:
        k_text, of, n_text = kn.partition("-of-")
        k, n, xi = int(k_text), int(n_text), int(x)
        y_bytes, tag_bytes = bytes.fromhex(y), bytes.fromhex(tag)
        bytes.fromhex(split_id)
    except ValueError:
        raise ShareError(f"share {position} is malformed") from None
    if (
        not of
        or not 2 <= k <= n <= 255
        or not 1 <= xi <= n
        or len(y_bytes) != _PAYLOAD_LEN
        or len(tag_bytes) != _TAG_LEN
        or len(split_id) != 2 * _SPLIT_LEN
    ):
        raise ShareError(f"share {position} is malformed")
    return Share(split_id.lower(), k, n, xi, y_bytes, tag_bytes)


@dataclass(frozen=True)
class Rebuilt:
    """A rebuilt secret and what is safe to record about it (never the secret itself)."""

    secret: str
    split_id: str
    k: int
    n: int
    xs: tuple[int, ...]

    def __repr__(self) -> str:  # never show the secret
        return f"Rebuilt(split={self.split_id}, {self.k}-of-{self.n}, shares x={self.xs})"


def combine(texts: Sequence[str], *, expect_split: str | None = None) -> Rebuilt:
    """Rebuild the secret from encoded shares, refusing anything that does not add up.

    Refuses (ShareError, nothing else happens): a malformed or mistyped share; shares of
    different splits (or of another split than ``expect_split``); the same share twice; fewer
    than K shares; shares that interpolate to a payload whose tag does not match (one was
    altered or forged).
    """
    if not texts:
        raise ShareError("no shares given")
    shares = [parse_share(t, i) for i, t in enumerate(texts, 1)]
    first = shares[0]
    want = expect_split.lower() if expect_split else first.split_id
    for i, s in enumerate(shares, 1):
        if s.split_id != want:
            raise ShareError(
                f"share {i} belongs to another split (split {s.split_id}, expected {want})"
            )
        if (s.k, s.n, s.tag) != (first.k, first.n, first.tag):
            raise ShareError(f"share {i} does not match share 1 of the same split (altered)")
    seen: dict[int, int] = {}
    for i, s in enumerate(shares, 1):
        if s.x in seen:
            raise ShareError(f"shares {seen[s.x]} and {i} are the same share (x={s.x})")
        seen[s.x] = i
    if len(shares) < first.k:
        raise ShareError(
            f"{len(shares)} share(s) given, this split needs {first.k} of {first.n}: refused"
        )
    payload = combine_bytes([(s.x, s.y) for s in shares])
    if not hmac.compare_digest(
        _tag(payload, bytes.fromhex(first.split_id), first.k, first.n), first.tag
    ):
        raise ShareError(
            "the shares do not rebuild this split's secret: at least one share was altered"
        )
    length = payload[0]
    try:
        if not 1 <= length <= PIN_MAX:
            raise ValueError
        secret = payload[1 : 1 + length].decode("utf-8")
    except ValueError:
        raise ShareError("the rebuilt secret is malformed") from None
    return Rebuilt(secret, first.split_id, first.k, first.n, tuple(s.x for s in shares))
