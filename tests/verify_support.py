"""Verifying a PDF against a test installation's store, as the API and pages do."""

from __future__ import annotations

from ca_core.clock import utcnow
from ca_core.runtime import Runtime
from signing_api.pdf_pool import pool_for
from signing_api.verify import PdfReport, verify_pdf
from signing_api.verify_sources import Clock, store_sources


def verify_with_store(
    rt: Runtime, data: bytes, password: str | None = None, clock: Clock = utcnow
) -> PdfReport:
    """``verify_pdf`` with the trust and revocation sources of ``rt``'s store."""
    trust, revinfo = store_sources(rt.config)
    return verify_pdf(trust, revinfo, clock, data, password, pool=pool_for(rt))
