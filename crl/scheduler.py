"""Re-publishing CRLs on time, and at once after status changes.

One ``CrlScheduler`` thread per process that serves (``psre serve`` starts it in each gunicorn
worker when ``crl.scheduler`` is on; ``psre crl daemon`` runs the same loop in the foreground).
Several of them may run: every publication takes the CA's lease row in the database first, and
publishing only what is due is idempotent, so a second worker finds nothing to do.

Each round: the status events of this process (handed over by the listener that
:func:`crl.publish.install` subscribes) are published first, then every CA is checked for due
CRLs (none yet, older than refresh_hours, partitions missing) and for revocations, holds and
releases made by *other* processes (the CLI, another worker), found in the audit log. A failed
signature is logged and the last good CRLs stay published; the next round tries again.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import TYPE_CHECKING

from ca_core.lifecycle import Ticker
from ca_core.notifier import sweep_outbox
from crl.errors import CrlBusyError
from crl.publish import CrlInfo, publish_all, publisher

if TYPE_CHECKING:
    from flask import Flask

    from ca_core.runtime import Runtime

log = logging.getLogger(__name__)


class CrlScheduler:
    def __init__(self, rt: Runtime, poll_seconds: float | None = None) -> None:
        self.rt = rt
        self.poll_seconds = poll_seconds or rt.config.crl.poll_seconds
        self._pending: dict[str, set[str]] = defaultdict(set)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Expiry and expiry notices ride on this loop (issue 20), on their own, slower clock.
        self._lifecycle = Ticker(rt)

    def notify(self, ca: str, serial_hex: str) -> None:
        """A status change in this process: publish it in the next round, which starts now."""
        with self._lock:
            self._pending[ca].add(serial_hex)
        self._wake.set()

    def run_once(self) -> list[CrlInfo]:
        """One round: this process's pending changes, then whatever is due."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(set)
        pub = publisher(self.rt)
        out: list[CrlInfo] = []
        for ca, serials in pending.items():
            try:
                out += pub.publish_changes(ca, serials)
            except CrlBusyError:
                self.notify_later(ca, serials)
            except Exception:
                log.exception("CRLs of %s not re-signed after a status change", ca)
        return out + publish_all(self.rt)

    def notify_later(self, ca: str, serials: set[str]) -> None:
        with self._lock:
            self._pending[ca] |= serials

    def start(self) -> None:
        # The token and the database are opened by the thread, not here: a worker must start
        # (and /healthz say what is wrong) even when the HSM or the database is down.
        self._thread = threading.Thread(target=self._loop, name="crl-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        publisher(self.rt).notify = None
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        attached = False
        while not self._stop.is_set():
            try:
                if not attached:
                    self.rt.attach_publishers()
                    publisher(self.rt).notify = self.notify
                    attached = True
                self.run_once()
                self._lifecycle.maybe_run()
            except Exception:
                log.exception("CRL scheduler round failed; retrying in %ss", self.poll_seconds)
            sweep_outbox(self.rt.store)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()


def start_in(app: Flask) -> CrlScheduler | None:
    """Start the scheduler for ``app``'s Runtime when the configuration asks for it."""
    rt: Runtime = app.extensions["psre"]
    if not rt.config.crl.scheduler:
        return None
    scheduler = CrlScheduler(rt)
    scheduler.start()
    app.extensions["psre_crl_scheduler"] = scheduler
    return scheduler
