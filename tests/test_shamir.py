"""ceremony_scripts.shamir: GF(256) arithmetic, K-of-N reconstruction, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ceremony_scripts import shamir
from ceremony_scripts.errors import ShareError


def _slow_mul(a: int, b: int) -> int:
    """Bit-by-bit multiplication in GF(2)[x]/(x^8+x^4+x^3+x+1), as FIPS 197 §4.2 describes."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return r


def test_field_matches_fips197_examples_and_the_slow_multiplication():
    assert shamir.gf_mul(0x57, 0x83) == 0xC1  # FIPS 197 §4.2
    assert shamir.gf_mul(0x57, 0x13) == 0xFE  # FIPS 197 §4.2.1
    for a in range(256):
        for b in range(0, 256, 7):
            assert shamir.gf_mul(a, b) == _slow_mul(a, b)
    for a in range(1, 256):
        assert shamir.gf_mul(a, shamir.gf_inv(a)) == 1
    with pytest.raises(ZeroDivisionError):
        shamir.gf_inv(0)


@st.composite
def split_case(draw: st.DrawFn) -> tuple[str, int, int, list[int]]:
    n = draw(st.integers(2, 12))
    k = draw(st.integers(2, n))
    pin = draw(st.text(min_size=1, max_size=16).filter(lambda s: len(s.encode()) <= 48))
    chosen = draw(st.permutations(range(n)))[: draw(st.integers(k, n))]
    return pin, k, n, chosen


@settings(max_examples=150, deadline=None)
@given(split_case())
def test_any_k_of_n_shares_rebuild_the_pin(case):
    pin, k, n, chosen = case
    sp = shamir.split_secret(pin, k, n)
    assert len(sp.shares) == n and len(set(sp.shares)) == n
    rebuilt = shamir.combine([sp.shares[i] for i in chosen])
    assert rebuilt.secret == pin
    assert (rebuilt.k, rebuilt.n, rebuilt.split_id) == (k, n, sp.split_id)
    assert repr(rebuilt).startswith("Rebuilt(split=") and "secret" not in repr(rebuilt)


def _lagrange_at(points: list[tuple[int, int]], x: int) -> int:
    """The value at ``x`` of the polynomial through ``points`` (test-side, independent)."""
    total = 0
    for i, (xi, yi) in enumerate(points):
        term = yi
        for j, (xj, _) in enumerate(points):
            if i != j:
                term = shamir.gf_mul(term, shamir.gf_mul(x ^ xj, shamir.gf_inv(xi ^ xj)))
        total ^= term
    return total


@settings(max_examples=100, deadline=None)
@given(
    st.integers(2, 8).flatmap(lambda k: st.tuples(st.just(k), st.integers(k, 10))),
    st.binary(min_size=1, max_size=24),
    st.data(),
)
def test_k_minus_1_shares_fit_every_secret_equally(kn, secret, data):
    """Perfect secrecy, checked: for ANY candidate secret there is a K-th share completing the
    K-1 shares to it, so K-1 shares rule nothing out."""
    k, n = kn
    points = shamir.split_bytes(secret, k, n)
    held = points[: k - 1]
    candidate = data.draw(st.binary(min_size=len(secret), max_size=len(secret)))
    x_new = points[k - 1][0]
    y_new = bytes(
        _lagrange_at([(0, candidate[i])] + [(x, y[i]) for x, y in held], x_new)
        for i in range(len(secret))
    )
    assert shamir.combine_bytes([*held, (x_new, y_new)]) == candidate


def test_fewer_than_k_shares_refused():
    sp = shamir.split_secret("1234-abcd", 3, 5)
    with pytest.raises(ShareError, match=r"2 share\(s\) given, this split needs 3 of 5"):
        shamir.combine(sp.shares[:2])
    with pytest.raises(ShareError, match="no shares"):
        shamir.combine([])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_mistyped_share_is_refused_by_position(data):
    sp = shamir.split_secret("s3cret-pin", 2, 3)
    share = sp.shares[1]
    i = data.draw(st.integers(len(shamir.PREFIX) + 1, len(share) - 1))
    repl = data.draw(st.sampled_from("0123456789abcdef"))
    if share[i] in (repl, "."):
        return
    bad = share[:i] + repl + share[i + 1 :]
    with pytest.raises(ShareError, match="share 2 is (corrupted|malformed|not a psre)"):
        shamir.combine([sp.shares[0], bad])


def _reframe(share: shamir.Share) -> str:
    """A share re-encoded with a valid checksum: what a deliberate forger can produce."""
    return share.encode()


def test_a_share_altered_with_a_valid_checksum_is_refused_by_the_tag():
    sp = shamir.split_secret("s3cret-pin", 2, 3)
    s = shamir.parse_share(sp.shares[1])
    forged = shamir.Share(s.split_id, s.k, s.n, s.x, bytes([s.y[0] ^ 1]) + s.y[1:], s.tag)
    with pytest.raises(ShareError, match="at least one share was altered"):
        shamir.combine([sp.shares[0], _reframe(forged)])


def test_a_share_of_another_split_is_refused():
    a = shamir.split_secret("pin-a", 2, 3)
    b = shamir.split_secret("pin-a", 2, 3)  # same PIN, another split
    with pytest.raises(ShareError, match="share 2 belongs to another split"):
        shamir.combine([a.shares[0], b.shares[1]])
    with pytest.raises(ShareError, match="belongs to another split"):
        shamir.combine(a.shares[:2], expect_split=b.split_id)
    # Relabelled with this split's id (checksum recomputed): the tag still refuses it.
    s = shamir.parse_share(b.shares[1])
    relabelled = shamir.Share(a.split_id, s.k, s.n, s.x, s.y, shamir.parse_share(a.shares[0]).tag)
    with pytest.raises(ShareError, match="altered"):
        shamir.combine([a.shares[0], relabelled.encode()])


def test_the_same_share_twice_is_refused():
    sp = shamir.split_secret("pin", 2, 3)
    with pytest.raises(ShareError, match="shares 1 and 2 are the same share"):
        shamir.combine([sp.shares[0], sp.shares[0]])


def test_shares_hide_the_pin_length_and_tolerate_line_breaks():
    short = shamir.split_secret("1", 2, 2).shares[0]
    long = shamir.split_secret("x" * 48, 2, 2).shares[0]
    assert len(short) == len(long)
    sp = shamir.split_secret("pin with spaces", 2, 2)
    wrapped = [s[:40] + "\n  " + s[40:] for s in sp.shares]
    assert shamir.combine(wrapped).secret == "pin with spaces"


def test_bad_parameters_refused():
    with pytest.raises(ShareError, match="2 <= K <= N"):
        shamir.split_secret("pin", 1, 3)
    with pytest.raises(ShareError, match="2 <= K <= N"):
        shamir.split_secret("pin", 4, 3)
    with pytest.raises(ShareError, match="longer than 48"):
        shamir.split_secret("x" * 49, 2, 3)
    with pytest.raises(ShareError, match="empty"):
        shamir.split_secret("", 2, 3)
