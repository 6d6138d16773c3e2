"""What runs inside a PDF worker (signing_api.pdf_pool): signing and verifying one document.

Imported by the fork server before any job, so that each child starts with pyHanko, pdfminer
and PIL loaded. Nothing here opens the HSM or the database: the signer and the timestamper are
proxies whose raw operations the web process performs (:func:`pdf_pool.call_parent`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

# Loaded here, in the fork server, rather than on a child's first job.
import pyhanko.sign.validation
import pyhanko.stamp  # noqa: F401
from asn1crypto import tsp
from cryptography import x509
from pyhanko.sign.timestamps.api import TimeStamper

from hsm.backend import SignScheme
from signing_api import asn1_lengths, pades, verify
from signing_api.pdf_pool import allow_in_answers, call_parent
from signing_api.pdf_sign import InvalidPdfError, PdfSignError, StampPlacementError
from signing_api.signers import NoKeyError, PsreSigner
from signing_api.verify_status import PathCertificate

if TYPE_CHECKING:
    from signing_api.verify_sources import Clock, RevocationSource, TrustSource

# -- signing ------------------------------------------------------------------------------------


class _ParentKey:
    """The key backend as the child sees it: :meth:`sign` is done by the web process, with
    the key of the job's certificate (whatever label is passed here)."""

    def sign(
        self,
        label: str,
        data: bytes,
        hash_name: str,
        scheme: SignScheme,
        *,
        prehashed: bool = False,
        pss_salt_length: int | None = None,
    ) -> bytes:
        assert not prehashed
        return call_parent("sign", data, hash_name, scheme.value, pss_salt_length)


class _ParentTimeStamper(TimeStamper):
    """Timestamp tokens from the web process's TSA (the same answer ``POST /tsa`` gives)."""

    def __init__(self) -> None:
        super().__init__(include_nonce=True)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(call_parent("timestamp", req.dump()))


#: The signing-certificate-v2 attribute of each signer seen by this child (encoding it costs
#: ~25 ms). The signer itself is cheap to build and built for each job, so that no parsed
#: certificate object is shared between the CMS structures of two jobs.
_scv2: OrderedDict[bytes, bytes] = OrderedDict()
_SCV2_KEPT = 256


def _signer(job: pades.SignJob) -> PsreSigner:
    key = hashlib.sha256(job.signer_der + b"".join(job.chain_der)).digest()
    signer = PsreSigner(
        _ParentKey(),
        job.key_label,
        x509.load_der_x509_certificate(job.signer_der),
        [x509.load_der_x509_certificate(c) for c in job.chain_der],
        scv2_der=_scv2.get(key),
    )
    _scv2[key] = signer.scv2
    _scv2.move_to_end(key)
    while len(_scv2) > _SCV2_KEPT:
        _scv2.popitem(last=False)
    return signer


def sign(job: pades.SignJob, data: bytes) -> bytes:
    timestamper = _ParentTimeStamper() if job.options.level != "B-B" else None
    try:
        return pades.sign_document(data, job, _signer(job), timestamper)
    except RecursionError as ex:
        raise InvalidPdfError("the PDF is nested too deeply to be read") from ex


# -- verification -------------------------------------------------------------------------------


def verify_document(
    trust: TrustSource,
    revinfo: RevocationSource,
    clock: Clock,
    data: bytes,
    password: str | None,
    max_fields: int,
) -> tuple[verify.PdfReport, dict[str, verify.SigDetails]]:
    try:
        return verify.analyse(trust, revinfo, clock, data, password, max_fields)
    except RecursionError as ex:
        raise verify.NotAPdfError("the PDF is nested too deeply to be read") from ex


def answer_types() -> list[Any]:
    """Classes a job's answer may hold (the parent's allow-list, see pdf_pool._loads)."""
    from signing_api.pdf_pool import DocumentTooComplexError

    return [
        verify.PdfReport,
        verify.SignatureReport,
        verify.SigDetails,
        PathCertificate,
        verify.NotAPdfError,
        InvalidPdfError,
        PdfSignError,
        StampPlacementError,
        NoKeyError,
        DocumentTooComplexError,
    ]


allow_in_answers(*answer_types())
asn1_lengths.install()
