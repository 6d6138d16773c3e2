"""What the services of one psre process look like to the code that uses them.

``psre.services.Services`` builds them (the only place that does); code below the composition
root names this interface so that it never imports what builds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ca_core.clock import Clock
    from ca_core.config import Config
    from ca_core.issuer import Issuer
    from ca_core.revocation import Revoker
    from ca_core.store import Store
    from ca_core.store.audit_log import AuditLog
    from hsm.pkcs11_backend import Pkcs11Backend


class Runtime(Protocol):
    config: Config
    #: The process's one clock (issue 17): the services use it, and so do handlers and commands
    #: that need "now" themselves.
    clock: Clock

    @property
    def backend(self) -> Pkcs11Backend: ...

    @property
    def store(self) -> Store: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def issuer(self) -> Issuer: ...

    @property
    def revoker(self) -> Revoker: ...

    def attach_publishers(self) -> None:
        """Subscribe the CRL and OCSP publishers to the store's status events (once)."""

    def audit_login_failure(self, token: str, reason: str) -> None:
        """Record a failed HSM login in the audit log (best effort)."""

    def close(self) -> None: ...
