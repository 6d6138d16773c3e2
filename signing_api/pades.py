"""The PAdES engine behind :func:`signing_api.pdf_sign.sign_pdf`.

One signature is one incremental update made by pyHanko's ``PdfSigner`` (subfilter
ETSI.CAdES.detached, CMS signed in the HSM); for B-LT the DSS is written into that same
update, and B-LTA adds a second one with the document timestamp. Earlier signatures stay valid
because nothing before them is rewritten.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper
from pyhanko.sign.signers.pdf_byterange import SigSeedSubFilter
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signing_api import revinfo
from signing_api.pdf_sign import (
    LEVELS,
    InvalidPdfError,
    PdfSignError,
    SignOptions,
)
from signing_api.signers import digest_for, signer_for
from signing_api.stamp import appearance
from signing_api.tsa import authority_for, timestamper_for

if TYPE_CHECKING:
    from ca_core.models import Certificate
    from ca_core.runtime import Runtime
    from hsm.pdf_signer import HsmPdfSigner

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


def sign(rt: Runtime, data: bytes, cert: Certificate, options: SignOptions) -> bytes:
    if options.level not in LEVELS:
        raise PdfSignError(f"unknown PAdES level {options.level!r} (one of {', '.join(LEVELS)})")
    signer = signer_for(rt, cert)
    md = digest_for(signer.signing_cert)
    writer = open_pdf(data, options.pdf_password)
    try:
        page_count = int(writer.root["/Pages"]["/Count"])
        field_name = options.field_name or fresh_field_name(writer)
    except _PDF_FAULTS as ex:
        raise InvalidPdfError("the PDF's page tree cannot be read") from ex
    look = appearance(
        data,
        page_count,
        field_name,
        options.stamp,
        signer=_common_name(signer.signing_cert),
        reason=options.reason,
        location=options.location,
        password=options.pdf_password,
    )
    timestamper = timestamper_for(rt) if options.level != "B-B" else None
    tsa = authority_for(rt).unit().signer if timestamper is not None else None
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
    if options.level in ("B-LT", "B-LTA"):
        assert tsa is not None
        add_validation_data(rt, writer, signer, tsa)
    out = io.BytesIO()
    try:
        pdf_signer.sign_pdf(
            writer,
            bytes_reserved=reserved(signer, tsa),
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
        out = add_document_timestamp(rt, out, md, tsa, options.pdf_password)
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


def add_validation_data(
    rt: Runtime, writer: IncrementalPdfFileWriter, signer: HsmPdfSigner, tsa: HsmPdfSigner
) -> None:
    """Put the DSS for the signature about to be made into the same revision (B-LT).

    Everything a validator needs is known before signing — both chains, and the OCSP responses
    and CRLs from our store — so the DSS goes into the signature's own revision, as pyHanko's
    TOGETHER_WITH_SIGNATURE placement does: one pass over the file instead of two, and
    validators that do not analyse incremental updates see it too.
    """
    info = revinfo.for_paths(rt.store, _path(signer), _path(tsa))
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, certs=info.certs, ocsps=info.ocsps, crls=info.crls
    )


def add_document_timestamp(
    rt: Runtime, signed: io.BytesIO, md: str, tsa: HsmPdfSigner | None, password: str | None
) -> io.BytesIO:
    """B-LTA: a document timestamp over the signed document and its DSS."""
    assert tsa is not None
    writer = open_pdf(signed.getvalue(), password)
    out = io.BytesIO()
    PdfTimeStamper(timestamper_for(rt)).timestamp_pdf(
        writer, md, bytes_reserved=reserved(None, tsa), output=out
    )
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
