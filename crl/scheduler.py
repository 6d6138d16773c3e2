"""Re-publishing CRLs from a foreground loop: ``psre crl daemon`` (cron with ``--once``).

The refresher (``psre refresher``, ca_core/refresher.py) is what keeps CRLs current on a
running installation, under its database lease; this loop is for installations that publish
from cron instead. Several may run: every publication takes the CA's lease row in the database
first, and publishing only what is due is idempotent, so a second one finds nothing to do.

Each round: the status events of this process (handed over by the listener that
:func:`crl.publish.install` subscribes) are published first, then every CA is checked for due
CRLs (none yet, older than refresh_hours, partitions missing) and for revocations, holds and
releases made by *other* processes (the CLI, a web worker), found in the audit log. A failed
signature is logged and the last good CRLs stay published; the next round tries again.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from crl.errors import CrlBusyError
from crl.publish import CrlInfo, CrlPublisher, publish_all

log = logging.getLogger(__name__)


class CrlScheduler:
    def __init__(self, publisher: CrlPublisher, poll_seconds: float | None = None) -> None:
        self.publisher = publisher
        self.poll_seconds = poll_seconds or publisher.config.poll_seconds
        self._pending: dict[str, set[str]] = defaultdict(set)
        self._lock = threading.Lock()

    def notify(self, ca: str, serial_hex: str) -> None:
        """A status change in this process: publish it in the next round."""
        with self._lock:
            self._pending[ca].add(serial_hex)

    def run_once(self) -> list[CrlInfo]:
        """One round: this process's pending changes, then whatever is due."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(set)
        pub = self.publisher
        out: list[CrlInfo] = []
        for ca, serials in pending.items():
            try:
                out += pub.publish_changes(ca, serials)
            except CrlBusyError:
                self.notify_later(ca, serials)
            except Exception:
                log.exception("CRLs of %s not re-signed after a status change", ca)
        return out + publish_all(pub)

    def notify_later(self, ca: str, serials: set[str]) -> None:
        with self._lock:
            self._pending[ca] |= serials
