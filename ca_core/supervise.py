"""Keeping ``psre serve``'s helper processes alive.

gunicorn supervises its workers; the helpers ``psre serve`` starts next to them (the OCSP
refresh daemon) had nobody: killed, they stayed dead and the pre-signed responses aged silently.
A :class:`Supervisor` thread in the serving process watches each helper, logs its end with the
exit status and starts it again, with a back-off so that a helper that dies at start-up (no
token, no database) does not spin. Whether the helpers do their work shows in ``/healthz``
(ca_core/freshness.py).

A helper can also be alive and stuck: stopped (SIGSTOP, a debugger, a frozen VM page) or hung.
Given a ``heartbeat`` file that the helper touches while it runs, the supervisor kills it once
the file has not moved for ``stale_after`` seconds, and the normal restart follows. That
matters most for the refresher on SQLite: stopped inside a write transaction it would hold the
database's only write lock, and every writer of the installation would wait behind it.

gunicorn's master reaps every child it is told about by SIGCHLD, ours included; ``Popen.poll``
then reads the exit status as 0. The restart does not depend on the status, only the log does.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
        heartbeat: Path | None = None,
        stale_after: float = 30.0,
    ) -> None:
        self.name = name
        self._start = start
        self._poll = poll_seconds
        self._max_backoff = max_backoff
        self._healthy_after = healthy_after
        self._heartbeat = heartbeat
        self._stale_after = stale_after
        self.kills = 0
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
            if self._heartbeat is not None:
                # A fresh beat for the new process: its start-up counts as progress.
                self._heartbeat.parent.mkdir(parents=True, exist_ok=True)
                self._heartbeat.touch()
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
            if code is None and not self._stop.is_set():
                self._kill_if_stuck(proc)
                continue
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

    def _kill_if_stuck(self, proc: subprocess.Popen[bytes]) -> None:
        if self._heartbeat is None:
            return
        try:
            still = time.time() - os.stat(self._heartbeat).st_mtime
        except OSError:
            return  # removed by hand: nothing to judge by
        if still < self._stale_after:
            return
        log.error("%s (pid %d) made no progress for %.0f s; killing it", self.name, proc.pid, still)
        self.kills += 1
        proc.kill()

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
        if self._heartbeat is not None:
            self._heartbeat.unlink(missing_ok=True)
