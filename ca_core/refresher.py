"""The refresher: the one process that does an installation's background work, under a lease.

``psre refresher`` (and the child ``psre serve --role all`` supervises) runs the chores it is
given — CRL publication, OCSP pre-signing, subscriber expiry, orphaned-key and outbox sweeps —
but only while it holds the database lease ``refresher`` (ca_core/store/leases.py). Several
hosts may run one each: exactly one works, the others stand by and take over once the holder's
lease runs out (``refresher.lease_seconds``, 15 s by default) — a holder killed with ``kill -9``
is replaced within that time plus one renewal period.

A keeper thread renews the lease every third of its length, or tries to acquire it while
another holds it. Work checks the lease before each write step (``check`` raises
:class:`LeaseLost`): a holder cut off from the database stops writing once its lease may have
run out, even if it never hears that another took it, because "held" is measured on this
process's monotonic clock from the start of the last successful renewal.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# The store (SQLAlchemy) loads when a refresher runs, not when `psre --help` lists commands.
if TYPE_CHECKING:
    from ca_core.store.leases import Lease, Leases

log = logging.getLogger(__name__)

#: The lease's name in the ``leases`` table.
LEASE_NAME = "refresher"

#: What a chore calls before each write step; raises LeaseLost when the lease is gone.
Check = Callable[[], None]


class LeaseLost(Exception):
    """This process no longer holds the refresher lease: stop before writing anything more."""


@dataclass
class Chore:
    """One kind of background work, run every ``every`` seconds while the lease is held."""

    name: str
    every: float
    run: Callable[[Check], object]
    next_due: float = field(default=0.0, compare=False)


def holder_id() -> str:
    """``<hostname>:<pid>``: who holds the lease, as the table and the logs show it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Refresher:
    def __init__(
        self,
        leases: Leases,
        chores: Sequence[Chore],
        *,
        lease_seconds: float,
        holder: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        self.leases = leases
        # Called by the keeper thread every step: the supervisor's sign that we still run
        # (ca_core/supervise.py kills a refresher whose beat stops, e.g. one stopped by SIGSTOP).
        self.beat = beat
        self.chores = list(chores)
        self.lease_seconds = lease_seconds
        self.holder = holder or holder_id()
        self.clock = clock
        # Held until this instant of ``clock``, less a margin for the keeper's own delays.
        self._held_until = 0.0
        self._margin = min(2.0, lease_seconds / 5)
        self._state_lock = threading.Lock()
        self._held = False
        self._other: str | None = None
        self._acquired = threading.Event()
        self.rounds = 0

    # -- the lease ---------------------------------------------------------------------------
    def held(self) -> bool:
        with self._state_lock:
            return self._held and self.clock() < self._held_until - self._margin

    def check(self) -> None:
        """Raise LeaseLost unless the lease is held (chores call this before each write)."""
        if not self.held():
            raise LeaseLost(f"{self.holder} no longer holds the refresher lease")

    def keep(self) -> None:
        """Acquire the lease if free, renew it if ours: one keeper step (any thread)."""
        ttl = dt.timedelta(seconds=self.lease_seconds)
        started = self.clock()
        with self._state_lock:
            was_held = self._held
        try:
            lease: Lease | None
            if was_held:
                lease = self.leases.renew(LEASE_NAME, self.holder, ttl)
            elif self._taken_by_other():
                lease = None  # standing by: a read, not a write, while another holds it
            else:
                lease = self.leases.acquire(LEASE_NAME, self.holder, ttl)
        except Exception as ex:  # the database away: keep what we had until it runs out
            log.warning("refresher: lease not renewed (%s); retrying", type(ex).__name__)
            self._expire_if_due()
            return
        with self._state_lock:
            if lease is not None:
                self._held, self._held_until = True, started + self.lease_seconds
            else:
                self._held = False
        if lease is not None and not was_held:
            log.info("refresher: lease acquired by %s", self.holder)
            self._other = None
            self._acquired.set()
        elif lease is None and was_held:
            log.warning("refresher: lease lost by %s", self.holder)
        if lease is None:
            self._note_other()

    def _expire_if_due(self) -> None:
        with self._state_lock:
            lost = self._held and self.clock() >= self._held_until - self._margin
            if lost:
                self._held = False
        if lost:
            log.warning("refresher: lease lost by %s (not renewed in time)", self.holder)

    def _taken_by_other(self) -> bool:
        lease = self.leases.holder(LEASE_NAME)
        return lease is not None and lease.live and lease.holder != self.holder

    def _note_other(self) -> None:
        try:
            lease = self.leases.holder(LEASE_NAME)
        except Exception:
            return
        other = lease.holder if lease is not None and lease.live else None
        if other != self._other and other is not None:
            log.info("refresher: lease held by %s; %s stands by", other, self.holder)
        self._other = other

    def release(self) -> None:
        with self._state_lock:
            was_held, self._held = self._held, False
        if was_held:
            try:
                self.leases.release(LEASE_NAME, self.holder)
                log.info("refresher: lease released by %s", self.holder)
            except Exception:
                log.warning("refresher: lease not released; it runs out by itself")

    # -- the work ----------------------------------------------------------------------------
    def run_round(self, *, everything: bool = False) -> bool:
        """Run the chores that are due (all with ``everything``) while the lease is held.
        False if the lease was lost (or not held) before the round ended."""
        if not self.held():
            return False
        ran: list[str] = []
        for chore in self.chores:
            now = self.clock()
            if not everything and now < chore.next_due:
                continue
            chore.next_due = now + chore.every
            ran.append(chore.name)
            try:
                self.check()
                chore.run(self.check)
            except LeaseLost:
                log.warning(
                    "refresher: lease lost by %s during %s; stopped before its next write",
                    self.holder,
                    chore.name,
                )
                return False
            except Exception:
                log.exception("refresher: %s failed; retrying in %.0f s", chore.name, chore.every)
        if ran:
            self.rounds += 1
            log.debug("refresher: %s ran %s", self.holder, ", ".join(ran))
        return True

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        once: bool = False,
        parent_pid: int | None = None,
    ) -> bool:
        """Work until ``stop`` is set (or ``parent_pid`` is gone); with ``once`` one round,
        if the lease can be had. Returns whether a round ran (``once``) / True."""
        stop = stop or threading.Event()
        keeper = threading.Thread(target=self._keep_loop, args=(stop,), name="refresher-lease")
        keeper.daemon = True
        self.keep()
        keeper.start()
        try:
            if once:
                return self.run_round(everything=True)
            while not stop.is_set():
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.info("refresher: psre serve is gone; %s exits", self.holder)
                    break
                if self.held():
                    self.run_round()
                    stop.wait(self._pause())
                else:
                    self._acquired.clear()
                    self._acquired.wait(1.0)
            return True
        finally:
            stop.set()
            keeper.join(5)
            self.release()

    def _pause(self) -> float:
        soonest = min((c.next_due for c in self.chores), default=self.clock() + 1.0)
        return max(0.05, min(1.0, soonest - self.clock()))

    def _keep_loop(self, stop: threading.Event) -> None:
        period = self.lease_seconds / 3
        self.beat()
        while not stop.wait(period if self.held() else min(period, 1.0)):
            self.beat()
            self.keep()
