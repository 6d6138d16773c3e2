"""Re-sign a certificate's OCSP responses the moment its status changes (BR 4.9.10: an
authoritative answer within minutes of issuance and of revocation).

``install(runtime)`` is called once per process by ``Runtime.attach_publishers``; the listener
runs after the change is committed, in the process that made it (CLI, console, API), with that
process's HSM backend. A failure is logged by the event bus and healed by the next refresh run
(presign_all re-signs any response whose status differs from the certificate's).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ca_core.events import StatusEvent

if TYPE_CHECKING:
    from ca_core.runtime import Runtime
    from ocsp.responses import Presigner


def install(rt: Runtime) -> None:
    lock = threading.Lock()
    holder: list[Presigner] = []

    def on_status(event: StatusEvent) -> None:
        from ocsp.responses import presigner

        with lock:
            if not holder:
                holder.append(presigner(rt))
        holder[0].presign_certificate(event.ca, event.serial_hex)

    rt.store.events.subscribe(on_status)
