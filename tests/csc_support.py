"""A CSC client nobody here wrote: pyHanko's ``CSCSigner`` (aiohttp), given only the base URL,
a client app's credentials, the signer's id and their PIN/OTP. Its authorization manager asks
``credentials/authorize`` for a SAD bound to exactly the hashes about to be signed (SCAL 2)."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import aiohttp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend


class HashBoundAuthorization(CSCAuthorizationManager):
    """Calls credentials/authorize for the exact hashes pyHanko is about to sign."""

    def __init__(
        self,
        session_info: CSCServiceSessionInfo,
        credential_info: object,
        http: aiohttp.ClientSession,
        *,
        pin: str | None = None,
        otp: str | None = None,
    ) -> None:
        super().__init__(session_info, credential_info)  # type: ignore[arg-type]
        self.http = http
        self.pin = pin
        self.otp = otp
        self.sads: list[str] = []  # kept so tests can try to replay one

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        body = self.format_csc_auth_request(pin=self.pin, otp=self.otp, hash_b64s=hash_b64s)
        url = self.csc_session_info.endpoint_url("credentials/authorize")
        async with self.http.post(url, headers=self.auth_headers, json=body) as resp:
            data = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"authorize: {resp.status} {data}")
        info = self.parse_csc_auth_response(data)
        self.sads.append(info.sad)
        return info


@dataclass(frozen=True)
class CscAccount:
    base_url: str
    username: str
    password: str


def csc_call(
    base_url: str, method: str, body: object, *, token: str | None = None,
    basic: tuple[str, str] | None = None, version: str = "v2",
) -> tuple[int, dict]:  # fmt: skip
    """One CSC call over real HTTP (urllib): (status, JSON answer or {})."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if basic:
        raw = f"{basic[0]}:{basic[1]}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    req = urllib.request.Request(
        f"{base_url}/csc/{version}/{method}",
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw_body = r.read()
            return r.status, json.loads(raw_body) if raw_body else {}
    except urllib.error.HTTPError as ex:
        raw_body = ex.read()
        return ex.code, json.loads(raw_body) if raw_body else {}


def csc_login(acct: CscAccount) -> str:
    status, body = csc_call(acct.base_url, "auth/login", {}, basic=(acct.username, acct.password))
    assert status == 200, body
    return body["access_token"]


def credential_of(acct: CscAccount, token: str, user_id: str) -> str:
    status, body = csc_call(acct.base_url, "credentials/list", {"userID": user_id}, token=token)
    assert status == 200, body
    return body["credentialIDs"][0]


async def csc_sign_pdf(
    acct: CscAccount,
    user_id: str,
    pdf: bytes,
    *,
    pin: str | None = None,
    otp: str | None = None,
    level: str = "B-B",
    trust_root: asn1_x509.Certificate | None = None,
    keep: list[HashBoundAuthorization] | None = None,
    prefer_pss: bool = False,
) -> bytes:
    """Sign ``pdf`` through the CSC API as any pyHanko user would: B-B, B-T (the server's
    /tsa) or B-LT (revocation data fetched from the server's OCSP/CRL URLs)."""
    token = csc_login(acct)
    cred_id = credential_of(acct, token, user_id)
    async with aiohttp.ClientSession() as http:
        session = CSCServiceSessionInfo(acct.base_url, cred_id, oauth_token=token, api_ver="v2")
        info = await fetch_certs_in_csc_credential(http, session)
        auth = HashBoundAuthorization(session, info, http, pin=pin, otp=otp)
        if keep is not None:
            keep.append(auth)
        meta = signers.PdfSignatureMetadata(
            field_name="CSC",
            subfilter=SigSeedSubFilter.PADES,
            embed_validation_info=level == "B-LT",
            validation_context=(
                ValidationContext(
                    trust_roots=[trust_root],
                    allow_fetching=True,
                    fetcher_backend=AIOHttpFetcherBackend(http),
                )
                if level == "B-LT"
                else None
            ),
        )
        stamper = HTTPTimeStamper(f"{acct.base_url}/tsa", session=http) if level != "B-B" else None
        signer = CSCSigner(http, auth, prefer_pss=prefer_pss)
        out = await signers.PdfSigner(meta, signer, timestamper=stamper).async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf))
        )
        return out.getvalue()
