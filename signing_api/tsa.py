"""RFC 3161 time-stamping authority with its key in the HSM, and ``POST /tsa``.

The same :class:`TimeStampAuthority` answers HTTP requests and stamps our own PAdES signatures
in-process (:class:`InProcessTimeStamper`, B-T and above), so a PDF's signature timestamp is
exactly what an external client would get from ``/tsa``.

- Time-stamping unit: the newest valid certificate with profile ``tsa`` (made by the TSA
  ceremony); its key is ``Certificate.key_label``. The choice is re-read every minute, so a
  rotated or revoked unit is replaced (or refused) within a minute.
- Serial numbers: 127 random bits from the OS CSPRNG per token (RFC 3161 §2.4.2 requires
  uniqueness per TSA; collisions are negligible, so no database round-trip is needed).
- Policy OID and accuracy from the ``tsa`` config section (RFC 3161 §2.4.2, ETSI EN 319 421).
- Bad requests get a TimeStampResp with status ``rejection`` and the failure bit
  (RFC 3161 §2.4.2), never an HTTP error; only a body that is not a TimeStampReq at all is 400.
- Audit: a timestamp changes no state and each token is self-evidencing (signed, unique serial),
  so there is no audit event per token — at thousands per hour it would drown the chain. The
  authority counts granted/rejected tokens per process (``stats``), and the unit's key and
  certificate are audited by the ceremony that made them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asn1crypto import cms, core, tsp, x509
from flask import Blueprint, Response, request
from pyhanko.sign.timestamps.api import TimeStamper

from ca_core.ca_standing import ChainProblem, IssuerNotGood, require_good_chain
from ca_core.clock import Clock, utcnow
from ca_core.errors import ConfigError
from ca_core.issuer import new_serial
from ca_core.store import signing_certs
from hsm.errors import HsmError
from policies.roles import names_with_role
from signing_api import asn1_lengths
from signing_api.signers import digest_for

asn1_lengths.install()  # before any token or CMS is dumped

if TYPE_CHECKING:
    from ca_core.config import TsaConfig
    from ca_core.store import ReadOnlyStore
    from hsm.pdf_signer import HsmPdfSigner
    from signing_api.signers import SignerCache

log = logging.getLogger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
UNIT_RECHECK_SECONDS = 60
#: A TimeStampReq is ~60 bytes (a few hundred with extensions): anything larger is refused
#: before it is parsed.
MAX_REQUEST_BYTES = 4096


class NoTsaUnitError(ConfigError):
    """No valid certificate with profile ``tsa`` (run the TSA ceremony / ``psre init``): a
    set-up fault of the server (HTTP 500 through the ConfigError mapping), not of the request."""

    code = "tsa_unavailable"


class _Rejected(Exception):
    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


@dataclass(frozen=True)
class _Unit:
    signer: HsmPdfSigner
    certificate_id: int
    issuer_id: int
    #: Looked up again after this: its certificate expired, or a minute passed (a revoked or
    #: rotated unit is dropped within a minute, without a query per token).
    recheck_at: dt.datetime
    digest: str


class TimeStampAuthority:
    """The process's time-stamping authority (built once by ``psre.services``): one unit
    cache and one set of counters for ``/tsa``, the CSC timestamp method and PAdES.

    :param store: where the unit's certificate and its CAs' standing are read.
    :param signers: the process's signers; the unit's comes from there.
    :param config: policy OID, accuracy and accepted hashes.
    :param clock: the time put in tokens and against which the unit is judged.
    """

    def __init__(
        self,
        store: ReadOnlyStore,
        signers: SignerCache,
        config: TsaConfig,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.signers = signers
        self.config = config
        self.clock = clock
        self.stats: Counter[str] = Counter()
        self._unit: _Unit | None = None
        self._lock = threading.Lock()
        self._timestamper: InProcessTimeStamper | None = None

    def unit(self, now: dt.datetime | None = None) -> _Unit:
        """The time-stamping unit in use (cached for up to UNIT_RECHECK_SECONDS)."""
        now = now or self.clock()
        with self._lock:
            if self._unit is not None and self._unit.recheck_at > now:
                return self._unit
            units = names_with_role("tsa")  # the profiles of time-stamping units
            row = signing_certs.newest_with_profile(self.store, units, now)
            if row is None:
                raise NoTsaUnitError(
                    "tsa",
                    "no valid time-stamping unit certificate (profile role 'tsa'); run the TSA "
                    "key ceremony",
                )
            signer = self.signers.signer(row)
            recheck = min(row.not_after, now + dt.timedelta(seconds=UNIT_RECHECK_SECONDS))
            self._unit = _Unit(
                signer, row.id, row.issuer_id, recheck, digest_for(signer.signing_cert)
            )
            return self._unit

    def require_good(self, unit: _Unit, now: dt.datetime) -> None:
        """Raise IssuerNotGood unless the unit's certificate and its CAs are good right now.

        Read on every token, not cached with the unit: a revoked or suspended CA (or unit)
        stamps nothing from the next request on."""
        require_good_chain(self.store, unit.issuer_id, now)
        status = signing_certs.standing(self.store, unit.certificate_id)
        if status is None or status.status != "good" or status.not_after <= now:
            with self._lock:
                self._unit = None  # choose again (an older unit may still be good)
            state = "expired" if status is not None and status.status == "good" else "revoked"
            if status is not None and status.status == "hold":
                state = "hold"
            raise IssuerNotGood(ChainProblem("tsa", state))

    # -- answering ------------------------------------------------------------------------
    async def async_respond(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp | TimeStampResp:
        """A granted TimeStampResp for ``req``, or a rejection naming the failure."""
        try:
            self._check(req)
            token = await self._token(req)
        except _Rejected as ex:
            self.stats["rejected"] += 1
            return _rejection(ex.failure, ex.text)
        except HsmError as ex:
            # The token is away: an RFC 3161 client understands systemFailure, not a JSON 503.
            # The next request after the token is back is granted (hsm.pkcs11_backend).
            log.error("TSA could not sign: %s", ex)
            self.stats["rejected"] += 1
            return _rejection("system_failure", "the time-stamping key is unavailable")
        self.stats["granted"] += 1
        return tsp.TimeStampResp(
            {"status": tsp.PKIStatusInfo({"status": "granted"}), "time_stamp_token": token}
        )

    def respond_der(self, body: bytes) -> bytes:
        """DER TimeStampResp for a DER TimeStampReq; a malformed request gets a rejection."""
        try:
            req = tsp.TimeStampReq.load(body, strict=True)
            req.native  # noqa: B018 - parse every field now, not halfway through answering
        except (ValueError, TypeError, OverflowError) as ex:
            self.stats["rejected"] += 1
            return _rejection("bad_data_format", f"not a TimeStampReq: {ex}").dump()
        return asyncio.run(self.async_respond(req)).dump()

    def _check(self, req: tsp.TimeStampReq) -> None:
        if req["version"].native != "v1":
            raise _Rejected("bad_request", "only version 1 requests are supported")
        imprint = req["message_imprint"]
        alg = imprint["hash_algorithm"]["algorithm"].native
        if alg not in self.config.hash_algorithms or alg not in _DIGEST_SIZES:
            allowed = ", ".join(self.config.hash_algorithms)
            raise _Rejected("bad_alg", f"hash algorithm {alg} not accepted (use {allowed})")
        if len(imprint["hashed_message"].native) != _DIGEST_SIZES[alg]:
            raise _Rejected("bad_data_format", f"the message imprint is not a {alg} digest")
        policy = req["req_policy"].native
        if policy is not None and policy != self.config.policy_oid:
            raise _Rejected(
                "unaccepted_policy", f"this TSA only stamps under {self.config.policy_oid}"
            )
        if req["extensions"].native:
            raise _Rejected("unaccepted_extension", "request extensions are not supported")

    def timestamper(self) -> InProcessTimeStamper:
        """A pyHanko TimeStamper over this authority (one, shared: it caches dummy tokens)."""
        with self._lock:
            if self._timestamper is None:
                self._timestamper = InProcessTimeStamper(self)
            return self._timestamper

    async def _token(self, req: tsp.TimeStampReq) -> cms.ContentInfo:
        now = self.clock()
        try:
            unit = self.unit(now)
            self.require_good(unit, now)
        except (NoTsaUnitError, IssuerNotGood) as ex:
            raise _Rejected("system_failure", str(ex)) from ex
        tsa_cert = unit.signer.signing_cert
        if tsa_cert is None:  # HsmPdfSigner always has one; pyHanko types it optional
            raise _Rejected("system_failure", "the TSA unit has no certificate")
        info = {
            "version": "v1",
            "policy": self.config.policy_oid,
            "message_imprint": req["message_imprint"],
            "serial_number": new_serial(),
            "gen_time": now,
            "accuracy": _accuracy(self.config.accuracy_ms),
            "ordering": False,
            "tsa": x509.GeneralName(name="directory_name", value=tsa_cert.subject),
        }
        if req["nonce"].native is not None:
            info["nonce"] = req["nonce"]
        tst_info = tsp.TSTInfo(info)
        encap = cms.EncapsulatedContentInfo(
            {"content_type": "tst_info", "content": cms.ParsableOctetString(tst_info.dump())}
        )
        # CAdES-style signed attributes give ESSCertIDv2 (RFC 5816) and the signing time.
        signed = await unit.signer.async_sign_general_data(
            encap, unit.digest, detached=False, use_cades=True
        )
        if not req["cert_req"].native:
            # RFC 3161 §2.4.1: without certReq the certificates field MUST NOT be present.
            # It is outside the signed attributes, so dropping it keeps the signature valid.
            sd = signed["content"]
            del sd["certificates"]
            signed = cms.ContentInfo({"content_type": "signed_data", "content": sd})
        return signed


def _accuracy(ms: int) -> tsp.Accuracy:
    seconds, millis = divmod(ms, 1000)
    fields = {}
    if seconds:
        fields["seconds"] = seconds
    if millis:
        fields["millis"] = millis
    return tsp.Accuracy(fields)


class TimeStampResp(core.Sequence):
    """RFC 3161 §2.4.2 TimeStampResp; asn1crypto's version wrongly requires the token, which a
    rejection must leave out."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _rejection(failure: str, text: str) -> TimeStampResp:
    return TimeStampResp(
        {
            "status": tsp.PKIStatusInfo(
                {
                    "status": "rejection",
                    "status_string": [text],
                    "fail_info": tsp.PKIFailureInfo({failure}),
                }
            )
        }
    )


class InProcessTimeStamper(TimeStamper):
    """pyHanko's TimeStamper answered by our own authority, without an HTTP round-trip."""

    def __init__(self, authority: TimeStampAuthority) -> None:
        super().__init__(include_nonce=True)
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        resp = await self.authority.async_respond(req)
        return tsp.TimeStampResp.load(resp.dump())  # pyHanko reads the status first


# --- HTTP ----------------------------------------------------------------------------------

bp = Blueprint("tsa", __name__)


@bp.post("/tsa")
def timestamp() -> Response:
    """RFC 3161 over HTTP (§3.4): a DER TimeStampReq in, a DER TimeStampResp out."""
    from signing_api.runtime import signing_runtime

    ctype = (request.mimetype or "").lower()
    if ctype != QUERY_TYPE:
        return Response(f"expected Content-Type {QUERY_TYPE}\n", status=415, mimetype="text/plain")
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        return Response("request too large\n", status=413, mimetype="text/plain")
    body = request.get_data(cache=False)
    if len(body) > MAX_REQUEST_BYTES:  # no or a false Content-Length
        return Response("request too large\n", status=413, mimetype="text/plain")
    return Response(signing_runtime().tsa.respond_der(body), mimetype=REPLY_TYPE)
