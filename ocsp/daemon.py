"""The refresh scheduler: ``psre ocsp daemon``, also started by ``psre serve``.

One process per installation re-signs responses that are due (``refresh_fraction`` of their
validity used), missing or out of date, and removes static files of expired responses. It is a
process of its own, not a thread of the web workers: two gunicorn workers would both re-sign,
and the gunicorn master must not initialise PKCS#11 before forking. Status changes do not wait
for it: the process that makes the change re-signs at once (ocsp/publisher.py).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ca_core.runtime import Runtime

log = logging.getLogger(__name__)

#: How often a round compares every certificate with its responses (a scan of the certificate
#: table: ~15 s at 10^6 rows); the rounds between only re-sign what is due by age, found by the
#: nextUpdate index (issue 18). Status changes never wait for either: ocsp/publisher.py.
_FULL_CHECK_SECONDS = 3600.0


def run(
    rt: Runtime,
    *,
    once: bool = False,
    stop: threading.Event | None = None,
    parent_pid: int | None = None,
) -> None:
    """Refresh every ``ocsp.presign_interval_seconds`` until SIGTERM/SIGINT (or ``stop``), or
    until ``parent_pid`` is gone (started by ``psre serve``, it must not outlive it)."""
    from crl.scheduler import sweep_outbox
    from ocsp.responses import presign_all

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    next_sweep = time.monotonic()
    next_full = time.monotonic()
    while not stop.is_set():
        if rt.config.hsm.orphan_sweep_minutes > 0 and time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + rt.config.hsm.orphan_sweep_minutes * 60
            _sweep_orphans(rt)
        try:
            full = time.monotonic() >= next_full
            report = presign_all(rt, full=full)
            if full:
                next_full = time.monotonic() + _FULL_CHECK_SECONDS
            if report.signed or report.errors:
                log.info(
                    "OCSP refresh: %d signed %s %s",
                    report.signed,
                    report.per_ca,
                    report.errors or "",
                )
        except Exception:
            log.exception(
                "OCSP refresh failed; retrying in %.0f s", rt.config.ocsp.presign_interval_seconds
            )
        sweep_outbox(rt)  # expired one-time codes leave the database (signing_api.notifier)
        if once:
            return
        deadline = time.monotonic() + rt.config.ocsp.presign_interval_seconds
        while not stop.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
            if parent_pid is not None and os.getppid() != parent_pid:
                log.info("psre serve is gone; OCSP daemon exits")
                return
            if time.monotonic() >= deadline:
                break


def _sweep_orphans(rt: Runtime) -> None:
    """Housekeeping that needs one process per installation too: orphaned subscriber keys."""
    import datetime as dt

    from ca_core.orphans import sweep_orphans

    try:
        report = sweep_orphans(
            rt.store,
            rt.backend,
            grace=dt.timedelta(minutes=rt.config.hsm.orphan_grace_minutes),
            actor="psre-ocsp-daemon",
        )
    except Exception:
        log.exception("orphaned key sweep failed")
        return
    if report.removed:
        log.info("removed %d orphaned key(s)", len(report.removed))


def spawn(config_file: str) -> subprocess.Popen[bytes]:
    """Start ``psre ocsp daemon`` for ``psre serve`` (same config, same environment)."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "psre.cli", "--config", config_file,
            "ocsp", "daemon", "--parent-pid", str(os.getpid()),
        ]
    )  # fmt: skip
