"""What the signing API's handlers and commands see of the process's services: the ``Runtime``
of ca_core plus the per-process objects of PDF signing and verification.

``psre.services.Services`` builds them, once per process. They are named here, not in
``ca_core.runtime``: ca_core does not know signing_api's types. Only handlers (HTTP endpoints)
and CLI commands use this interface; what they call below it takes the pieces it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from ca_core.runtime import Runtime
from signing_api.pdf_sign import PdfEngine

if TYPE_CHECKING:
    from signing_api.client_slots import ClientSlots
    from signing_api.pdf_pool import PdfPool
    from signing_api.signers import SignerCache
    from signing_api.tsa import TimeStampAuthority


class SigningRuntime(Runtime, Protocol):
    @property
    def pdf_pool(self) -> PdfPool:
        """The bounded children that read untrusted PDFs (signing and verifying)."""
        ...

    @property
    def signers(self) -> SignerCache:
        """pyHanko signers over the HSM keys, one per certificate."""
        ...

    @property
    def tsa(self) -> TimeStampAuthority:
        """The time-stamping authority behind ``/tsa``, the CSC timestamp method and PAdES."""
        ...

    @property
    def client_slots(self) -> ClientSlots:
        """Verifications in progress per client address."""
        ...


def signing_runtime() -> SigningRuntime:
    """The current app's runtime (a request handler's), as the signing API sees it."""
    # Imported here: CLI commands use this module without Flask's app context.
    from ca_core.app_runtime import runtime

    return cast("SigningRuntime", runtime())


def pdf_engine(rt: SigningRuntime) -> PdfEngine:
    """What :func:`signing_api.pdf_sign.sign_pdf` signs with, from the process's services."""
    return PdfEngine(
        store=rt.store,
        signers=rt.signers,
        tsa=rt.tsa,
        pool=rt.pdf_pool,
        config=rt.config.pdf,
        clock=rt.clock,
    )
