"""The database lease (ca_core/store/leases.py) on SQLite and PostgreSQL: one holder at a time,
taken over only after expiry, never by a renewal of a lost lease; races decided by the database."""

from __future__ import annotations

import datetime as dt
import threading

from ca_core.store import Store
from ca_core.store.leases import Leases

TTL = dt.timedelta(seconds=15)
T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


def test_one_holder_until_expiry_then_another(store: Store):
    leases = Leases(store)
    assert leases.holder("refresher", now=T0) is None
    a = leases.acquire("refresher", "host-a:1", TTL, now=T0)
    assert a is not None and a.holder == "host-a:1" and a.live
    assert a.expires_at == T0 + TTL and a.acquired_at == T0
    # Held: nobody else gets it, not even a second before expiry.
    assert (
        leases.acquire("refresher", "host-b:2", TTL, now=T0 + TTL - dt.timedelta(seconds=1)) is None
    )
    assert leases.renew("refresher", "host-b:2", TTL, now=T0) is None
    # The holder renews; taking its own lease again keeps the acquisition time.
    later = T0 + dt.timedelta(seconds=5)
    renewed = leases.renew("refresher", "host-a:1", TTL, now=later)
    assert renewed is not None and renewed.expires_at == later + TTL and renewed.renewed_at == later
    again = leases.acquire("refresher", "host-a:1", TTL, now=later)
    assert again is not None and again.acquired_at == T0
    # Expired: another takes it, and the old holder's renewal fails (its work stopped).
    gone = later + TTL
    b = leases.acquire("refresher", "host-b:2", TTL, now=gone)
    assert b is not None and b.holder == "host-b:2" and b.acquired_at == gone
    assert leases.renew("refresher", "host-a:1", TTL, now=gone) is None
    seen = leases.holder("refresher", now=gone)
    assert seen is not None and seen.holder == "host-b:2" and seen.live
    assert not leases.holder("refresher", now=gone + TTL).live  # type: ignore[union-attr]


def test_renewing_an_expired_lease_fails_even_when_nobody_took_it(store: Store):
    leases = Leases(store)
    assert leases.acquire("refresher", "host-a:1", TTL, now=T0)
    assert leases.renew("refresher", "host-a:1", TTL, now=T0 + TTL) is None
    assert leases.acquire("refresher", "host-a:1", TTL, now=T0 + TTL) is not None


def test_release_lets_the_next_holder_in_at_once(store: Store):
    leases = Leases(store)
    assert leases.acquire("refresher", "host-a:1", TTL, now=T0)
    assert not leases.release("refresher", "host-b:2", now=T0)  # not b's to give
    assert leases.release("refresher", "host-a:1", now=T0 + dt.timedelta(seconds=1))
    assert leases.acquire("refresher", "host-b:2", TTL, now=T0 + dt.timedelta(seconds=1))
    # Other names are other leases.
    assert leases.acquire("other", "host-a:1", TTL, now=T0 + dt.timedelta(seconds=1))


def _race(stores: list[Store], tag: str) -> list[str]:
    """Every store tries to acquire "race" at the same moment; the holders that won."""
    start = threading.Barrier(len(stores))
    won: list[str] = []

    def race(i: int, s: Store) -> None:
        start.wait()
        # Long enough that no racer, however late the load makes it, finds the winner's lease
        # already run out (that would rightly be a second winner).
        if Leases(s).acquire("race", f"host-{i}:{tag}", dt.timedelta(seconds=60)):
            won.append(f"host-{i}:{tag}")

    threads = [threading.Thread(target=race, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_racing_acquirers_on_their_own_connections_one_wins(store: Store, db_url: str):
    """Eight processes' worth of stores race for a lease that was never taken, then for one
    whose expiry has passed, with the database's own clock: exactly one wins each time."""
    stores = [Store.open(db_url) for _ in range(8)]
    try:
        for round_ in range(2):
            won = _race(stores, str(round_))
            assert len(won) == 1, won
            lease = Leases(store).holder("race")
            assert lease is not None and lease.holder == won[0] and lease.live
            # The winner gives it back: its expires_at becomes now, so the second round races
            # for an expired lease.
            assert Leases(store).release("race", won[0])
    finally:
        for s in stores:
            s.close()
