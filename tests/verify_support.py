"""Verifying a PDF against a test installation's store, as the API and pages do."""

from __future__ import annotations

from ca_core.clock import utcnow
from signing_api.runtime import SigningRuntime
from signing_api.verify import PdfReport, verify_pdf
from signing_api.verify_sources import Clock, store_sources


def verify_with_store(
    rt: SigningRuntime, data: bytes, password: str | None = None, clock: Clock = utcnow
) -> PdfReport:
    """``verify_pdf`` with the trust and revocation sources of ``rt``'s store."""
    trust, revinfo = store_sources(rt.config)
    return verify_pdf(trust, revinfo, clock, data, password, pool=rt.pdf_pool)
