"""Signing a PDF with a subscriber's key in the HSM: PAdES baseline B-B, B-T, B-LT, B-LTA.

The contract between the signing engine (this module) and the HTTP API (v1/v2 endpoints): the
API authenticates the client app, checks the signer's activation and resolves the signer's
certificate; then it calls :func:`sign_pdf` once per document, with the :class:`PdfEngine` of
the process (``signing_api.runtime.pdf_engine``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ca_core.clock import Clock, utcnow
from ca_core.errors import CaError

if TYPE_CHECKING:
    from ca_core.config import PdfConfig
    from ca_core.store import Store
    from ca_core.store.models import Certificate
    from signing_api.pdf_pool import PdfPool
    from signing_api.signers import SignerCache
    from signing_api.tsa import TimeStampAuthority

#: PAdES baseline levels, lowest first. B-LT is the default (what BSrE returns).
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


class PdfSignError(CaError):
    """The document cannot be signed as asked; ``api_code`` is the e-sign API's error code."""

    code = "pdf_sign_error"
    api_code = 4015


class InvalidPdfError(PdfSignError):
    """Not a PDF, a corrupt PDF, or a wrong/missing ``pdfPassword``."""

    code = "invalid_pdf"


class StampPlacementError(PdfSignError):
    """The visible stamp cannot be placed: page out of range, ``tag_koordinat`` not found."""

    code = "stamp_placement"


@dataclass(frozen=True)
class Stamp:
    """A visible signature appearance. Without one, the signature is invisible."""

    #: 1-based page; -1 is the last page (``halaman=TERAKHIR``).
    page: int = 1
    #: (x1, y1, x2, y2) in PDF points from the bottom-left, or None with ``tag``.
    box: tuple[float, float, float, float] | None = None
    #: Place the stamp on the first occurrence of this text (``tag_koordinat``) instead of
    #: ``box``; ``width``/``height`` size it.
    tag: str | None = None
    width: float = 120.0
    height: float = 60.0
    #: Specimen image (PNG/JPEG bytes) — ``imageBase64``/``imageTTD``.
    image: bytes | None = None
    #: Draw a QR code of this URL (``linkQR``).
    qr_url: str | None = None


@dataclass(frozen=True)
class SignOptions:
    level: str = "B-LT"
    reason: str | None = None
    location: str | None = None
    stamp: Stamp | None = None
    #: Opens an encrypted PDF; never logged or stored.
    pdf_password: str | None = None
    #: Signature field name; a fresh unique one when None.
    field_name: str | None = None


@dataclass(frozen=True)
class PdfEngine:
    """What signing a PDF uses. The services are the process's own, built once by
    ``psre.services``; this only names them together."""

    #: The CAs' standing before each signature, and B-LT's validation data (CRLs and OCSP
    #: responses, from the store).
    store: Store
    #: The signers of the process: keys stay in the HSM, certificates and chains are parsed once.
    signers: SignerCache
    #: The time-stamping authority for B-T and above (the same one that answers ``/tsa``).
    tsa: TimeStampAuthority
    #: The bounded children that read the documents.
    pool: PdfPool
    #: The ``[pdf]`` budgets (pages, time per request).
    config: PdfConfig
    clock: Clock = utcnow


def sign_pdf(
    engine: PdfEngine,
    data: bytes,
    cert: Certificate,
    options: SignOptions,
    deadline: float | None = None,
) -> bytes:
    """Sign ``data`` with the key ``cert.key_label`` in the HSM; returns the signed PDF.

    The document is read in a child process within the ``[pdf]`` budgets (and by
    ``deadline``, a ``time.monotonic()`` value, if given): over them,
    ``signing_api.pdf_pool.DocumentTooComplexError`` (4131) or ``PdfWorkersBusyError`` (5032).

    Raises :class:`InvalidPdfError`, :class:`StampPlacementError`, another
    :class:`PdfSignError` (unknown level, unreadable specimen image, a field name already
    signed, a certificate without an HSM key, a document whose DocMDP forbids signing) — all
    4xx material —, ``signing_api.tsa.NoTsaUnitError`` (B-T and above without a valid TSA
    certificate: a server fault) or an HSM error. Appends an incremental update, so earlier
    signatures stay valid. Thread-safe; the signer for ``cert`` is built once and kept.

    B-T adds a signature timestamp from our own TSA (in-process, the code behind ``/tsa``);
    B-LT also writes a DSS with the chains and the OCSP responses and CRLs of the signer and
    the TSA unit from our store; B-LTA adds a document timestamp over all of that.
    """
    from ca_core.ca_standing import require_good_chain
    from signing_api import pades

    # Every path that signs (both API versions, `psre pdf sign`) comes through here: nothing
    # is signed under a CA that is revoked, suspended or expired (ca_core.ca_standing).
    now = engine.clock()
    require_good_chain(engine.store, cert.issuer_id, now)
    if options.level != "B-B":
        # The timestamp would be refused anyway; refusing here says why, with the code.
        engine.tsa.require_good(engine.tsa.unit(now), now)
    return pades.sign(engine, data, cert, options, deadline)
