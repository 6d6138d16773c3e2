"""ca_core.keycheck: real keys are accepted, each kind of weak key is refused with its reason."""

from __future__ import annotations

import math
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from ca_core.errors import CaError
from ca_core.keycheck import (
    DEFAULT_DEBIAN_BLOCKLIST,
    KNOWN_SPECS,
    DebianWeakKeys,
    WeakKeyError,
    check_public_key,
    debian_fingerprint,
    is_roca_modulus,
    spki_sha256,
)

ALL_SPECS = frozenset(KNOWN_SPECS)

# A public, non-ROCA 2048-bit test key (crocs-muni/roca, roca/tests/data/pubkey01.pem). The two
# digests below were computed with the OpenSSL 3.0 CLI, independently of the code under test:
#   openssl rsa -pubin -noout -modulus -in pubkey01.pem | sha1sum    (last 20 hex digits)
#   openssl pkey -pubin -in pubkey01.pem -outform DER | sha256sum
PUBKEY01_PEM = b"""-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuifwOO3sz3yHUO4Kg67/
ovYtMvzj6X8lf25wimtdIjoAkq/hxe44vaNkNxsCtTi+oVmw0ZGUwxpU4P5q64Ll
A6gxwF5cYj7L7G3FXjm0ICduZkp/jicOGU/I5kYjnyjjPgt9aozfVVfC3bqJ3WYN
Xw4oxb11HemqvRvQcC+4PY13JMsvkz/sXUFFSjcILQuGONNuAoTtlfJ81SsmlSpQ
lHfsefYk/SDoZQSagP0b5dAU6QikK0CjuP//Y7+ihtzZBKisWjia84H2U35U7cjb
KYw2AzLlytjUr0fB/7aeuk4eRmqMVQwCYDtvUpdQlJtM3YrbRw0wUvMEtxXgc0CG
VQIDAQAB
-----END PUBLIC KEY-----
"""
PUBKEY01_DEBIAN_FINGERPRINT = "d5c73c539365d2e37a3d"
PUBKEY01_SPKI_SHA256 = "b51103665f8987e57084764f7731c384ec7d5efa195a0537af5e315d4e48f54a"

# ROCA-vulnerable moduli from the ROCA authors' test data (crocs-muni/roca): a 2048-bit one
# (roca/tests/data/mod03.txt), a 1025-bit one (fingerprint/tests/data/mod08.txt) and a 512-bit
# one (fingerprint/tests/data/mod01.txt).
ROCA_MOD03 = int(
    "9dcd7420e420c270a68060eb8b5aa7457a9f6648f86fafed2775cc1f79ae962f1e63f1b9e51c55f9ea6fdc7332e9"
    "b0058c9ff2eb1fc89855029cf6aafe21e689feb38ac9ffb12f1ce371bb5d0e9aae64161abce74b4244bf68f1edb4"
    "411f756a097c8929c14740245ea355f8332d1aa36bb50c7dcb4505da8de02e4e53d38f8df06097da7524df0df93d"
    "b48eac8cc4af2d3a16257eb2b2adca6ba464e5974fa92550d31b1babf161e7692d00b86e3dd886ecab4abfbe1a8f"
    "8cc263ff4af55cdb45f4249a5193925f5e983d762f0b6800943eb0267b08f42ed311ce1f5c86eacbc8ce4d3cb7a2"
    "fee1ef5641423a1cf4114e5ecf50034a60a412523af9e6f4aa11",
    16,
)
ROCA_MOD08 = int(
    "1db349e1f58f5d41f65aa5b0ffa6ae0cea80de6c170b2b4abf9c358d79494ca59cab008f5ee92759b91d497e2131"
    "701047f953935a163e91db5460c82566f4df0c05bca02a8576f7c4e916b274e2f307b56fc8a20ad452b1b54d3924"
    "726a3b2329da882c7b8e102379dfe7a8c6b01d62e7ff0fd58e1e9822f6e32b5b0486561fb",
    16,
)
ROCA_MOD01 = int(
    "944e13208a280c37efc31c3114485e590192adbb8e11c87cad60cdef0037ce99278330d3f471a2538fa66780"
    "2ed2a3c44a8b7dea826e888d0aa341fd664f7fa7",
    16,
)
# Moduli from the same project's test_fingerprint.py that pass a per-prime residue test but are
# not ROCA keys: the discrete-logarithm test must reject them (no common exponent exists).
NOT_ROCA_LOOKALIKES = (
    int(
        "72414128973967872688332736535017614208620368242015797102796086827882754006260204061799547"
        "00498373142677759644565888988686102704503376001494804806746794796031820545377897397586753"
        "29104892279701430911847257602901729358727522223203341000977304836008926863537198553973813"
        "16384244147860260153198611313067061116317"
    ),
    int(
        "13834597326516361469435247700446919128645911107056451629938149518862494667106545192467770"
        "46288924760117732016121175973033155307457380155791591062598112046106473476621501598147748"
        "94784524366138220226431598991937057442020694466365850170057813627445465881816985939192840"
        "583168136876337135351417253708364245923133"
    ),
)

SMALL_PRIMES = tuple(p for p in range(2, 1000) if all(p % d for d in range(2, math.isqrt(p) + 1)))


def is_probable_prime(n: int) -> bool:
    """Miller-Rabin with 32 random bases (error < 2^-64), after trial division."""
    if n < 2:
        return False
    for p in SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(32):
        x = pow(2 + secrets.randbelow(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n: int) -> int:
    n |= 1
    while not is_probable_prime(n):
        n += 2
    return n


def random_top_bits(bits: int) -> int:
    """A random number of exactly ``bits`` bits whose two top bits are set, so p*q has 2*bits."""
    return secrets.randbits(bits) | (3 << (bits - 2))


def rsa_key(n: int, e: int = 65537) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(e, n).public_key()


def refusal(key, allowed=ALL_SPECS, **kwargs) -> str:
    with pytest.raises(WeakKeyError) as info:
        check_public_key(key, allowed, **kwargs)
    assert str(info.value) == f"public key: {info.value.reason}"
    return info.value.reason


@pytest.fixture(scope="module")
def rsa2048() -> rsa.RSAPublicKey:
    return rsa.generate_private_key(65537, 2048).public_key()


# -- accepted keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_real_rsa_keys_are_accepted(bits: int) -> None:
    key = rsa.generate_private_key(65537, bits).public_key()
    assert check_public_key(key, {f"rsa-{bits}", "ec-p256"}) == f"rsa-{bits}"


@pytest.mark.parametrize(
    ("curve", "spec"), [(ec.SECP256R1(), "ec-p256"), (ec.SECP384R1(), "ec-p384")]
)
def test_real_ec_keys_are_accepted(curve: ec.EllipticCurve, spec: str) -> None:
    key = ec.generate_private_key(curve).public_key()
    assert check_public_key(key, {spec}) == spec


def test_no_false_positives_on_100_random_rsa_keys() -> None:
    # OpenSSL releases the GIL while it searches for primes, so threads make this affordable.
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        keys = list(pool.map(lambda _: rsa.generate_private_key(65537, 2048), range(100)))
    moduli = [k.public_key().public_numbers().n for k in keys]
    assert not [n for n in moduli if is_roca_modulus(n)]
    assert {check_public_key(k.public_key(), {"rsa-2048"}) for k in keys} == {"rsa-2048"}


# -- profile and type ------------------------------------------------------------------------


def test_weak_key_error_is_a_ca_error(rsa2048: rsa.RSAPublicKey) -> None:
    with pytest.raises(CaError) as info:
        check_public_key(rsa2048, {"ec-p256"})
    assert info.value.code == "weak_key"


def test_rsa_size_outside_the_profile_is_refused(rsa2048: rsa.RSAPublicKey) -> None:
    assert refusal(rsa2048, {"rsa-3072", "ec-p384"}) == (
        "RSA modulus 2048 bits not allowed by the profile (allowed: ec-p384, rsa-3072)"
    )


def test_ec_curve_outside_the_profile_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert refusal(key, {"ec-p256"}) == (
        "key type ec-p384 not allowed by the profile (allowed: ec-p256)"
    )


@pytest.mark.parametrize(
    ("curve", "spec"), [(ec.SECP521R1(), "ec-p521"), (ec.SECP256K1(), "ec-secp256k1")]
)
def test_curves_psre_never_certifies_are_refused(curve: ec.EllipticCurve, spec: str) -> None:
    key = ec.generate_private_key(curve).public_key()
    reason = refusal(key)
    assert reason.startswith(f"key type {spec} not allowed by the profile (allowed: ")


def test_unknown_spec_in_profile_is_a_programming_error(rsa2048: rsa.RSAPublicKey) -> None:
    with pytest.raises(ValueError, match="unknown key spec"):
        check_public_key(rsa2048, {"rsa-2048", "ec-p521"})


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (ed25519.Ed25519PrivateKey.generate, "ed25519"),
        (lambda: dsa.generate_private_key(2048), "dsa"),
    ],
)
def test_other_key_types_are_refused(make, name: str) -> None:
    key = make().public_key()
    assert refusal(key) == f"key type {name} not allowed (only RSA and EC P-256/P-384 keys)"


def test_invalid_ec_point_cannot_even_be_loaded() -> None:
    # BR 6.1.6 point validation is done by cryptography at load time; keep relying on it.
    good = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    off_curve = b"\x04" + good.x.to_bytes(32, "big") + ((good.y + 1) % (2**256)).to_bytes(32, "big")
    with pytest.raises(ValueError):
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), off_curve)


# -- RSA structure -----------------------------------------------------------------------------


@pytest.mark.parametrize("e", [3, 17, 65539])
def test_rsa_exponent_other_than_65537_is_refused(rsa2048: rsa.RSAPublicKey, e: int) -> None:
    n = rsa2048.public_numbers().n
    assert refusal(rsa_key(n, e)) == f"RSA exponent {e} is not 65537"


def test_rsa_modulus_below_2048_bits_is_refused() -> None:
    key = rsa.generate_private_key(65537, 2047).public_key()  # noqa: S505 (the point)
    assert refusal(key) == "RSA modulus must be at least 2048 bits (got 2047)"


@pytest.mark.parametrize("bits", range(2049, 2056))
def test_rsa_modulus_not_a_multiple_of_8_is_refused(bits: int) -> None:
    n = random_top_bits(bits) | 1
    assert refusal(rsa_key(n)) == f"RSA modulus size {bits} bits is not a multiple of 8"


def test_rsa_2056_bits_gets_a_profile_reason() -> None:
    key = rsa.generate_private_key(65537, 2056).public_key()
    assert refusal(key).startswith("RSA modulus 2056 bits not allowed by the profile (allowed: ")


@pytest.mark.parametrize("small", [3, 7, 997])
def test_modulus_with_a_small_factor_is_refused(small: int) -> None:
    # n = small * m, 2048 bits, m free of primes below ``small`` so ``small`` is the least factor.
    smaller = math.prod(p for p in SMALL_PRIMES if p < small)
    m = (1 << 2047) // small + 1 + secrets.randbits(1000)
    while math.gcd(m, smaller) != 1:
        m += 1
    n = small * m
    assert n.bit_length() == 2048
    assert refusal(rsa_key(n)) == f"RSA modulus is divisible by the small prime {small}"


def test_close_primes_are_refused() -> None:
    p = next_prime(random_top_bits(1024))
    q = next_prime(p + secrets.randbits(500))
    assert refusal(rsa_key(p * q)) == "primes too close (Fermat-factorable)"


def test_square_modulus_is_refused() -> None:
    p = next_prime(random_top_bits(1024))
    assert refusal(rsa_key(p * p)) == "primes too close (Fermat-factorable)"


# -- ROCA ------------------------------------------------------------------------------------


def test_public_roca_test_modulus_is_refused() -> None:
    assert ROCA_MOD03.bit_length() == 2048
    assert refusal(rsa_key(ROCA_MOD03)) == "ROCA-vulnerable (CVE-2017-15361)"


@pytest.mark.parametrize("n", [ROCA_MOD01, ROCA_MOD08, ROCA_MOD03])
def test_public_roca_test_moduli_are_detected(n: int) -> None:
    assert is_roca_modulus(n)


@pytest.mark.parametrize("n", NOT_ROCA_LOOKALIKES)
def test_per_prime_lookalikes_are_not_roca(n: int) -> None:
    assert not is_roca_modulus(n)


def roca_prime(primorial_bound: int) -> int:
    """A 1024-bit prime built like Infineon RSALib's: k*M + (65537^a mod M), M = bound#."""
    m = math.prod(p for p in SMALL_PRIMES if p <= primorial_bound)
    low, high = (3 << 1022) // m + 1, (1 << 1024) // m - 1
    while True:
        k = low + secrets.randbelow(high - low)
        p = k * m + pow(65537, secrets.randbits(256), m)
        if is_probable_prime(p):
            return p


# 167# is the M of 512..960-bit keys, 701# the M of 1984..3936-bit keys (the paper, 2.1).
@pytest.mark.parametrize("primorial_bound", [167, 701])
def test_constructed_roca_modulus_is_refused(primorial_bound: int) -> None:
    n = roca_prime(primorial_bound) * roca_prime(primorial_bound)
    assert n.bit_length() == 2048
    assert refusal(rsa_key(n)) == "ROCA-vulnerable (CVE-2017-15361)"


# -- Debian weak keys and compromised keys -----------------------------------------------------


def test_debian_fingerprint_matches_openssl_vulnkey_format() -> None:
    key = serialization.load_pem_public_key(PUBKEY01_PEM)
    assert debian_fingerprint(key.public_numbers().n) == PUBKEY01_DEBIAN_FINGERPRINT


def test_debian_blocklist_refuses_listed_keys(tmp_path, rsa2048: rsa.RSAPublicKey) -> None:
    listed = serialization.load_pem_public_key(PUBKEY01_PEM)
    path = tmp_path / "blacklist.RSA-2048"
    path.write_text(
        "# openssl-blacklist style list\n"
        "\n"
        f"{PUBKEY01_DEBIAN_FINGERPRINT.upper()}\n"
        f"  {debian_fingerprint(3 * 5 * 7)}  \n"
    )
    debian = DebianWeakKeys.load(path)
    assert debian.fingerprints == {PUBKEY01_DEBIAN_FINGERPRINT, debian_fingerprint(105)}
    assert debian.contains(listed) and not debian.contains(rsa2048)
    assert refusal(listed, debian=debian) == "Debian weak key (CVE-2008-0166)"
    assert check_public_key(rsa2048, {"rsa-2048"}, debian=debian) == "rsa-2048"
    assert check_public_key(listed, {"rsa-2048"}) == "rsa-2048"


def test_damaged_debian_blocklist_is_refused(tmp_path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text("# ok\n0123456789abcdef0123\nnot-a-fingerprint\n")
    with pytest.raises(ValueError, match=re.escape("line 3: expected 20 hexadecimal digits")):
        DebianWeakKeys.load(path)


def test_shipped_debian_blocklist_is_empty_and_documented() -> None:
    assert DebianWeakKeys.load(DEFAULT_DEBIAN_BLOCKLIST).fingerprints == frozenset()
    header = DEFAULT_DEBIAN_BLOCKLIST.read_text(encoding="ascii")
    assert "CVE-2008-0166" in header and "Modulus=" in header


def test_spki_sha256_is_over_the_der_subject_public_key_info() -> None:
    assert spki_sha256(serialization.load_pem_public_key(PUBKEY01_PEM)) == PUBKEY01_SPKI_SHA256


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa.generate_private_key(65537, 2048),
        lambda: ec.generate_private_key(ec.SECP256R1()),
    ],
)
def test_compromised_key_is_refused(make) -> None:
    key = make().public_key()
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    blocked = {spki_sha256(other), spki_sha256(key)}
    assert refusal(key, blocked_spki_sha256=blocked) == (
        f"listed as compromised (SPKI SHA-256 {spki_sha256(key)})"
    )
    assert check_public_key(other, ALL_SPECS, blocked_spki_sha256={spki_sha256(key)}) == "ec-p256"
