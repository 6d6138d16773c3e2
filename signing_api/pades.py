"""The PAdES engine behind :func:`signing_api.pdf_sign.sign_pdf`.

One signature is one incremental update made by pyHanko's ``PdfSigner`` (subfilter
ETSI.CAdES.detached, CMS signed in the HSM); for B-LT the DSS is written into that same
update, and B-LTA adds a second one with the document timestamp. Earlier signatures stay valid
because nothing before them is rewritten.

Split in two (issue 16): :func:`sign` runs in the web process and has the key, the TSA and the
store (the process's :class:`signing_api.pdf_sign.PdfEngine`); :func:`sign_document` runs in a
bounded child (signing_api.pdf_pool) and has the document. The child's signer and timestamper
are proxies (signing_api.pdf_jobs) that ask the web process for the raw signature over the
signed attributes and for timestamp tokens.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper
from pyhanko.sign.signers.pdf_byterange import SigSeedSubFilter
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signing_api import asn1_lengths, revinfo
from signing_api.pdf_pool import DocumentTooComplexError, PdfWorkerError
from signing_api.pdf_sign import (
    LEVELS,
    InvalidPdfError,
    PdfSignError,
    SignOptions,
)
from signing_api.signers import digest_for
from signing_api.stamp import appearance
from signing_api.tsa import MAX_REQUEST_BYTES

asn1_lengths.install()

if TYPE_CHECKING:
    from ca_core.store.models import Certificate
    from hsm.pdf_signer import HsmPdfSigner
    from signing_api.pdf_sign import PdfEngine
    from signing_api.tsa import TimeStampAuthority

log = logging.getLogger(__name__)

#: What a malformed PDF makes pyHanko raise, besides its own PdfError family (its reader
#: asserts, e.g. that an object stream is one, and recurses along reference chains).
_PDF_FAULTS = (
    PdfError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    AssertionError,
    RecursionError,
)


@dataclass(frozen=True)
class SignJob:
    """What the child needs to sign one document, besides the document: no key, no database.

    Certificates, the validation data for B-LT and the sizes are worked out in the web process
    (from the store, which the child never opens); DER throughout, so it pickles plainly.
    """

    options: SignOptions
    key_label: str
    signer_der: bytes
    chain_der: tuple[bytes, ...]
    #: ``/Contents`` sizes (hex digits) of the signature and of a B-LTA document timestamp.
    bytes_reserved: int
    timestamp_reserved: int
    #: B-LT and above: certificates, OCSP responses and CRLs for the DSS.
    dss: tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...]] | None
    max_pages: int


def sign(
    engine: PdfEngine,
    data: bytes,
    cert: Certificate,
    options: SignOptions,
    deadline: float | None = None,
) -> bytes:
    """The web process's half: resolve the signer, the TSA and the validation data, then have
    a bounded child do everything that reads the document (see signing_api.pdf_pool) while
    this process makes the one raw signature in the HSM and answers timestamp requests."""
    from signing_api import pdf_jobs

    if options.level not in LEVELS:
        raise PdfSignError(f"unknown PAdES level {options.level!r} (one of {', '.join(LEVELS)})")
    signer = engine.signers.signer(cert)
    tsa = engine.tsa.unit().signer if options.level != "B-B" else None
    dss = None
    if options.level in ("B-LT", "B-LTA"):
        assert tsa is not None
        info = revinfo.for_paths(engine.store, _path(signer), _path(tsa), clock=engine.clock)
        dss = (
            tuple(c.dump() for c in info.certs),
            tuple(o.dump() for o in info.ocsps),
            tuple(c.dump() for c in info.crls),
        )
    assert signer.signing_cert is not None
    job = SignJob(
        options=options,
        key_label=signer.key_label,
        signer_der=signer.signing_cert.dump(),
        chain_der=tuple(c.dump() for c in signer.cert_registry),
        bytes_reserved=reserved(signer, tsa),
        timestamp_reserved=reserved(None, tsa) if tsa is not None else 0,
        dss=dss,
        max_pages=engine.config.max_pages,
    )
    budget = _RawSignatures(signer, engine.tsa)
    services: dict[str, Callable[..., Any]] = {"sign": budget.sign, "timestamp": budget.timestamp}
    return engine.pool.run(pdf_jobs.sign, job, data, services=services, deadline=deadline)


class _RawSignatures:
    """What the child may ask of the HSM for one job: one signature with this job's key, and
    a few timestamp tokens (the same as anyone gets from ``POST /tsa``)."""

    MAX_SIGNATURES = 1
    MAX_TIMESTAMPS = 2  # the signature's, and B-LTA's document timestamp
    MAX_SIGNED_BYTES = 16 * 1024  # CAdES signed attributes are a few hundred bytes

    def __init__(self, signer: HsmPdfSigner, tsa: TimeStampAuthority) -> None:
        self.signer = signer
        self.tsa = tsa
        self.signatures = 0
        self.timestamps = 0

    def sign(self, data: bytes, digest: str, scheme: str, salt: int | None) -> bytes:
        self.signatures += 1
        if self.signatures > self.MAX_SIGNATURES or len(data) > self.MAX_SIGNED_BYTES:
            raise PdfWorkerError("a PDF worker asked for more than one signature")
        from hsm.backend import SignScheme

        # The signer's own backend: the key of this job's certificate, in the token.
        return self.signer.backend.sign(
            self.signer.key_label, data, digest, SignScheme(scheme), pss_salt_length=salt
        )

    def timestamp(self, request_der: bytes) -> bytes:
        self.timestamps += 1
        if self.timestamps > self.MAX_TIMESTAMPS or len(request_der) > MAX_REQUEST_BYTES:
            raise PdfWorkerError("a PDF worker asked for too many timestamps")
        return self.tsa.respond_der(request_der)


def sign_document(
    data: bytes, job: SignJob, signer: Signer, timestamper: TimeStamper | None
) -> bytes:
    """The child's half: open the document, place the stamp, write the signed revision with
    ``signer`` (whose raw signature the web process makes) and, for B-LTA, timestamp it."""
    options = job.options
    md = digest_for(signer.signing_cert)
    writer = open_pdf(data, options.pdf_password)
    try:
        page_count = int(writer.root["/Pages"]["/Count"])
    except _PDF_FAULTS as ex:
        raise InvalidPdfError("the PDF's page tree cannot be read") from ex
    if page_count > job.max_pages:
        raise DocumentTooComplexError(
            f"the document has {page_count} pages; at most {job.max_pages} are signed"
        )
    try:
        field_name = options.field_name or fresh_field_name(writer)
    except _PDF_FAULTS as ex:
        raise InvalidPdfError("the PDF's form fields cannot be read") from ex
    look = appearance(
        data,
        page_count,
        field_name,
        options.stamp,
        signer=_common_name(signer.signing_cert),
        reason=options.reason,
        location=options.location,
        password=options.pdf_password,
        max_pages=job.max_pages,
    )
    meta = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=md,
        subfilter=SigSeedSubFilter.PADES,
        reason=options.reason,
        location=options.location,
        name=_common_name(signer.signing_cert),
    )
    pdf_signer = PdfSigner(
        meta,
        signer,
        timestamper=timestamper,
        stamp_style=look.style,
        new_field_spec=look.field_spec,
    )
    out = io.BytesIO()
    try:
        if job.dss is not None:
            certs, ocsps, crls = job.dss
            DocumentSecurityStore.supply_dss_in_writer(
                writer,
                None,
                certs=[asn1_x509.Certificate.load(c) for c in certs],
                ocsps=[asn1_ocsp.OCSPResponse.load(o) for o in ocsps],
                crls=[asn1_crl.CertificateList.load(c) for c in crls],
            )
        pdf_signer.sign_pdf(
            writer,
            bytes_reserved=job.bytes_reserved,
            appearance_text_params=look.text_params or None,
            output=out,
        )
    except SigningError as ex:
        raise PdfSignError(f"cannot sign this PDF: {ex}") from ex
    except _PDF_FAULTS as ex:
        # Also what a bug of ours would raise: keep the traceback where operators see it.
        log.warning("pyHanko could not sign the PDF", exc_info=True)
        raise InvalidPdfError("the PDF is damaged and cannot be signed") from ex
    if options.level == "B-LTA":
        assert timestamper is not None
        out = add_document_timestamp(out, md, timestamper, job.timestamp_reserved, options)
    return out.getvalue()


def open_pdf(data: bytes, password: str | None) -> IncrementalPdfFileWriter:
    """A writer appending to ``data``; decrypted with ``password`` when encrypted."""
    if not data.lstrip()[:5].startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
        raise InvalidPdfError("not a PDF (no %PDF- header)")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        encrypted = writer.prev.encrypted
    except _PDF_FAULTS as ex:
        raise InvalidPdfError("not a readable PDF") from ex
    if encrypted:
        if not password:
            raise InvalidPdfError("the PDF is encrypted: pdfPassword is needed")
        try:
            result = writer.prev.decrypt(password)
        except _PDF_FAULTS as ex:
            raise InvalidPdfError("the PDF's encryption is not supported") from ex
        if result.status == AuthStatus.FAILED:
            raise InvalidPdfError("wrong pdfPassword")
        writer.encrypt(password)  # updates must be encrypted like the original
    return writer


def fresh_field_name(writer: IncrementalPdfFileWriter) -> str:
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer, filled_status=None)}
    n = len(taken) + 1
    while f"Signature{n}" in taken:
        n += 1
    return f"Signature{n}"


def add_document_timestamp(
    signed: io.BytesIO, md: str, timestamper: TimeStamper, size: int, options: SignOptions
) -> io.BytesIO:
    """B-LTA: a document timestamp over the signed document and its DSS."""
    writer = open_pdf(signed.getvalue(), options.pdf_password)
    out = io.BytesIO()
    PdfTimeStamper(timestamper).timestamp_pdf(writer, md, bytes_reserved=size, output=out)
    return out


def reserved(signer: HsmPdfSigner | None, tsa: HsmPdfSigner | None) -> int:
    """Hex digits to reserve for /Contents: the CMS with its certificates (and the timestamp
    token with the TSA's), plus slack for attributes and signatures up to RSA-4096.

    Sized from the certificates, which make up most of it, instead of pyHanko's estimate: that
    builds a whole dry-run CMS (and asks the TSA for a dummy token), nearly doubling the cost.
    """
    size = 0
    for s in (signer, tsa):
        if s is not None:
            assert s.signing_cert is not None
            size += len(s.signing_cert.dump()) + sum(len(c.dump()) for c in s.cert_registry)
            size += 4096
    return 2 * size


def _path(signer: HsmPdfSigner) -> list[asn1_x509.Certificate]:
    """The signer's certificate and the chain it embeds (issuing CA, root)."""
    assert signer.signing_cert is not None
    return [signer.signing_cert, *signer.cert_registry]


def _common_name(cert: asn1_x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    return cert.subject.native.get("common_name")
