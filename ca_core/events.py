"""Certificate status events, delivered in-process after the change is committed.

CRL and OCSP publication react to issuance and revocation "at once" (CA/B BR 4.9.7, 4.9.10):
whoever changes a status (the CLI, the signing API, the operator console) publishes an event on
the store's bus, and the publishers subscribed in that process re-sign what depends on it.
Listeners run after the database commit, so a listener that fails never undoes a revocation;
its failure is logged and the scheduled refresh catches up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: issued, revoked, hold (suspended) or released (hold lifted)
KINDS = ("issued", "revoked", "hold", "released")


@dataclass(frozen=True)
class StatusEvent:
    kind: str
    ca: str
    serial_hex: str


Listener = Callable[[StatusEvent], None]


class EventBus:
    """Synchronous fan-out of committed status changes to this process's listeners."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it again."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: StatusEvent) -> None:
        if event.kind not in KINDS:
            raise ValueError(f"unknown event kind {event.kind!r}")
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                # The change is committed; a publisher's failure must not surface as a failed
                # revocation. The periodic refresh republishes.
                log.exception("status listener %r failed for %s", listener, event)
