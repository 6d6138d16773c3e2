"""What a serial's status is: decided here, once, for OCSP, CRLs' callers, the CLI and the API.

:func:`decide_status` takes what the database holds about one serial — its certificate row, a
serial lost with a restore, a serial reservation — and says ``good``, ``revoked``, ``hold`` or
``never_issued``. ``ReadOnlyStore.certificate_status`` looks those up and asks it; batch
readers (OCSP pre-signing) that read the rows themselves ask it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CertStatus:
    """What the store says about one serial: ``good``, ``revoked``, ``hold`` or
    ``never_issued``, and (not compared) which record decided it: ``certificate``, ``lost``
    (issued after a restored backup), ``reservation`` or ``none``."""

    status: str
    revoked_at: datetime | None = None
    reason: str | None = None
    source: str = field(default="certificate", compare=False)


def decide_status(
    certificate: tuple[str, datetime | None, str | None] | None,
    lost: tuple[datetime, str | None] | None,
    reservation_state: str | None,
) -> CertStatus:
    """The status of a serial from its certificate row's (status, revoked_at, reason), its
    lost-serial row's (revoked_at, reason) and its reservation's state (None: no such row).

    A serial with a reservation that is not abandoned counts as issued (a crash between the
    HSM signature and the database write leaves only the reservation; checklist "never
    unknown"), and its certificate has not been revoked, since revoking first completes the
    reservation. A serial issued after the backup a restore came from
    (ca_core.restore_reconcile) is revoked, as the CRLs list it, rather than never issued.
    """
    if certificate is not None:
        return CertStatus(*certificate, source="certificate")
    if lost is not None:
        return CertStatus("revoked", lost[0], lost[1] or "unspecified", source="lost")
    if reservation_state is not None and reservation_state != "abandoned":
        return CertStatus("good", source="reservation")
    return CertStatus("never_issued", source="none")
