"""Keeping ``psre serve``'s helper processes alive.

gunicorn supervises its workers; the helpers ``psre serve`` starts next to them (the OCSP
refresh daemon) had nobody: killed, they stayed dead and the pre-signed responses aged silently.
A :class:`Supervisor` thread in the serving process watches each helper, logs its end with the
exit status and starts it again, with a back-off so that a helper that dies at start-up (no
token, no database) does not spin. Whether the helpers do their work shows in ``/healthz``
(ca_core/freshness.py).

gunicorn's master reaps every child it is told about by SIGCHLD, ours included; ``Popen.poll``
then reads the exit status as 0. The restart does not depend on the status, only the log does.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Supervisor:
    """Runs ``start()`` and starts it again whenever the process it returned exits."""

    def __init__(
        self,
        name: str,
        start: Callable[[], subprocess.Popen[bytes]],
        *,
        poll_seconds: float = 0.5,
        max_backoff: float = 30.0,
        healthy_after: float = 60.0,
    ) -> None:
        self.name = name
        self._start = start
        self._poll = poll_seconds
        self._max_backoff = max_backoff
        self._healthy_after = healthy_after
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name=f"supervise-{self.name}")
        self._thread.daemon = True
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self.proc = self._start()
            self._started = time.monotonic()
        log.info("%s started (pid %d)", self.name, self.proc.pid)

    def _watch(self) -> None:
        failures = 0
        while not self._stop.wait(self._poll):
            proc = self.proc
            if proc is None:
                continue
            code = proc.poll()
            if code is None or self._stop.is_set():
                continue
            lived = time.monotonic() - self._started
            failures = 0 if lived >= self._healthy_after else failures + 1
            delay = min(self._max_backoff, 0.5 * (2 ** max(0, failures - 1))) if failures else 0
            how = f"signal {-code}" if code < 0 else f"status {code}"
            log.error(
                "%s (pid %d) exited with %s after %.0f s; restarting in %.1f s",
                self.name, proc.pid, how, lived, delay,
            )  # fmt: skip
            if self._stop.wait(delay):
                return
            try:
                self._spawn()
                self.restarts += 1
            except OSError:
                log.exception("%s could not be restarted; trying again", self.name)

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._thread is not None:
            self._thread.join(timeout)
