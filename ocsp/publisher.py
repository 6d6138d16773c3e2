"""Re-sign a certificate's OCSP responses the moment its status changes (BR 4.9.10: an
authoritative answer within minutes of issuance and of revocation).

``install(events, presigner)`` is called once per process by ``Services.attach_publishers``;
the listener runs after the change is committed, in the process that made it (CLI, console,
API), with that process's presigner and HSM backend. A failure is logged by the event bus and
healed by the next refresh run (presign_all re-signs any response whose status differs from
the certificate's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ca_core.events import EventBus, StatusEvent

if TYPE_CHECKING:
    from ocsp.responses import Presigner


def install(events: EventBus, presigner: Callable[[], Presigner]) -> None:
    """Re-sign on every status event of ``events`` with the presigner ``presigner()`` returns.

    ``presigner`` is called only when the first event comes: building it opens the key
    backend, which a process that never changes a status should not pay for."""
    lock = threading.Lock()

    def on_status(event: StatusEvent) -> None:
        with lock:  # two first events at once still build one presigner
            p = presigner()
        p.presign_certificate(event.ca, event.serial_hex)

    events.subscribe(on_status)
