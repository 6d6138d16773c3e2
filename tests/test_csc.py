"""The CSC API (issue 19) against a real ``psre serve``, driven by pyHanko's ``CSCSigner`` —
a client nobody here wrote — with nothing but the base URL, a client app's credentials, the
signer's NIK and their passphrase or one-time code. Results are checked by pyHanko's validator
(our exported root as the only anchor) and poppler's ``pdfsig``; the refusals of SCAL 2 (a
replayed SAD, a SAD for another hash or of another app, an expired token, a locked signer, a
revoked certificate) each get CSC's error."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from tests.cli_support import (
    PsreEnv,
    add_agency,
    add_signer,
    free_port,
    install_esign,
    outbox_take,
    served,
)
from tests.csc_support import (
    CscAccount,
    credential_of,
    csc_call,
    csc_login,
    csc_sign_pdf,
)
from tests.esign_support import TOTP_RE, codes_in
from tests.pdf_support import minimal_pdf

NIK = "3174051203900001"
PASSPHRASE = "rahasia-tte-2026"
SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"


@dataclass
class Csc:
    env: PsreEnv
    acct: CscAccount
    root: asn1_x509.Certificate


@pytest.fixture(scope="module")
def csc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Csc]:
    port = free_port()  # before init: the certificates' OCSP/CRL URLs point at this server
    base = f"http://127.0.0.1:{port}"
    env = PsreEnv(tmp_path_factory.mktemp("psre-csc"), {"PSRE_PUBLIC_BASE_URL": base})
    inst = install_esign(env, nik=NIK, passphrase=PASSPHRASE)
    root_pem = env.root / "root.pem"
    env.run("ca", "export", "root-ca", "--out", str(root_pem))
    _, _, der = pem.unarmor(root_pem.read_bytes())
    log = env.root / "serve.log"
    with served(env, port=port, log=log) as s:
        yield Csc(
            env, CscAccount(s.url, inst.username, inst.password), asn1_x509.Certificate.load(der)
        )
    assert "Traceback" not in log.read_text(errors="replace")


def _pdfsig_valid(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    res = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in res.stdout, res.stdout + res.stderr
    return res.stdout


def _status(root: asn1_x509.Certificate, data: bytes):
    (sig,) = PdfFileReader(io.BytesIO(data)).embedded_regular_signatures
    return validate_pdf_signature(sig, ValidationContext(trust_roots=[root], allow_fetching=False))


def _database_dump(env: PsreEnv) -> str:
    """Every row of the installation's SQLite database, as SQL text."""
    import sqlite3

    conn = sqlite3.connect(env.root / "var" / "psre.sqlite3")
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def _audit(env: PsreEnv, action: str) -> list[dict]:
    return json.loads(env.run("audit", "show", "--action", action, "--json").stdout)


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT"])
def test_pyhanko_csc_signer_signs_through_psre(csc: Csc, tmp_path: Path, level: str) -> None:
    pdf = minimal_pdf(f"Nota Dinas {level}")
    signed = asyncio.run(
        csc_sign_pdf(csc.acct, NIK, pdf, pin=PASSPHRASE, level=level, trust_root=csc.root)
    )
    status = _status(csc.root, signed)
    assert status.summary().startswith("INTACT:TRUSTED"), status.summary()
    assert "Rina Wulandari" in _pdfsig_valid(tmp_path, signed)
    if level != "B-B":
        assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    if level == "B-LT":
        # Offline, revocation data required: the DSS alone must carry it (LTV).
        reader = PdfFileReader(io.BytesIO(signed))
        kw = {"trust_roots": [csc.root], "allow_fetching": False, "revocation_mode": "require"}
        vc = DocumentSecurityStore.read_dss(reader).as_validation_context(kw)
        lt = validate_pdf_signature(reader.embedded_regular_signatures[0], vc)
        assert lt.bottom_line, lt.pretty_print_details()
    # Audited with the hashes, never the passphrase.
    (auth,) = _audit(csc.env, "csc.authorize")[:1]
    (signed_event,) = _audit(csc.env, "csc.sign_hash")[:1]
    assert auth["details"]["hashes"] == signed_event["details"]["hashes"]
    assert len(auth["details"]["hashes"]) == 1 and auth["details"]["method"] == "PIN"
    assert PASSPHRASE not in csc.env.run("audit", "show", "--limit", "500", "--json").stdout


def test_one_time_code_from_the_notifier_authorizes(csc: Csc, tmp_path: Path) -> None:
    token = csc_login(csc.acct)
    cred = credential_of(csc.acct, token, "rina.wulandari@kemenkeu.go.id")  # e-mail as userID
    status, body = csc_call(
        csc.acct.base_url, "credentials/sendOTP", {"credentialID": cred}, token=token
    )
    assert status == 204, body
    (code,) = codes_in([m["body"] for m in outbox_take(csc.env)], TOTP_RE)[-1:]
    signed = asyncio.run(csc_sign_pdf(csc.acct, NIK, minimal_pdf("OTP"), otp=code))
    assert _status(csc.root, signed).summary().startswith("INTACT:TRUSTED")
    # The code was spent: a second authorization with it is refused as a wrong OTP.
    digest = b64sha(b"other")
    again = {
        "credentialID": cred,
        "numSignatures": 1,
        "hashes": [digest],
        "authData": [{"id": "OTP", "value": code}],
    }
    status, body = csc_call(csc.acct.base_url, "credentials/authorize", again, token=token)
    assert (status, body["error"]) == (400, "invalid_otp"), body


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _authorize(
    csc: Csc, token: str, cred: str, hashes: list[str], pin: str = PASSPHRASE
) -> tuple[int, dict]:
    # v1 spelling (hash, PIN), as pyHanko sends it, under the v2 path
    body = {"credentialID": cred, "numSignatures": len(hashes), "hash": hashes, "PIN": pin}
    return csc_call(csc.acct.base_url, "credentials/authorize", body, token=token)


def _sign_hash(
    csc: Csc, token: str, cred: str, sad: str, hashes: list[str], version: str = "v2"
) -> tuple[int, dict]:
    body = {
        "credentialID": cred, "SAD": sad, "hashes": hashes, "hashAlgorithmOID": SHA256,
        "signAlgo": ECDSA_SHA256, "operationMode": "S",
    }  # fmt: skip
    return csc_call(csc.acct.base_url, "signatures/signHash", body, token=token, version=version)


def test_a_sad_signs_exactly_its_hashes_once_for_its_app(csc: Csc) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    token = csc_login(csc.acct)
    cred = credential_of(csc.acct, token, NIK)
    a, b = b64sha(b"surat A"), b64sha(b"surat B")
    status, body = _authorize(csc, token, cred, [a])
    assert status == 200 and 0 < body["expiresIn"] <= 300, body
    sad = body["SAD"]
    # A SAD used for another hash: refused, and not spent by the attempt... but counted.
    status, body = _sign_hash(csc, token, cred, sad, [b])
    assert (status, body["error"]) == (400, "invalid_request") and "other hashes" in body[
        "error_description"
    ]
    # Of another app: a second client app holding the SAD cannot use it.
    other = json.loads(csc.env.run("client", "add", "Aplikasi Lain", "--json").stdout)
    other_token = csc_login(CscAccount(csc.acct.base_url, other["username"], other["password"]))
    status, body = _sign_hash(csc, other_token, cred, sad, [a])
    assert status == 400 and "another client application" in body["error_description"], body
    # Its own app, its own hash (v1 path): signed, and the signature verifies with the cert.
    status, body = _sign_hash(csc, token, cred, sad, [a], version="v1")
    assert status == 200, body
    status, info = csc_call(
        csc.acct.base_url,
        "credentials/info",
        {"credentialID": cred, "certificates": "chain"},
        token=token,
    )
    assert (
        info["SCAL"] == "2"
        and info["key"]["status"] == "enabled"
        and info["authMode"] == "explicit"
    )
    assert info["key"]["curve"] == "1.2.840.10045.3.1.7" and info["key"]["len"] == 256
    assert [o["id"] for o in info["auth"]["objects"]] == ["PIN", "OTP"] and len(
        info["cert"]["certificates"]
    ) == 3
    cert = x509.load_der_x509_certificate(base64.b64decode(info["cert"]["certificates"][0]))
    cert.public_key().verify(  # type: ignore[union-attr]
        base64.b64decode(body["signatures"][0]),
        base64.b64decode(a),
        ec.ECDSA(utils.Prehashed(hashes.SHA256())),  # type: ignore[call-arg]
    )
    # Replayed: spent.
    status, body = _sign_hash(csc, token, cred, sad, [a])
    assert status == 400 and "already used" in body["error_description"], body
    # Token and SAD are in the database only as their SHA-256; the passphrase not at all.
    dump = _database_dump(csc.env)
    assert token not in dump and sad not in dump and PASSPHRASE not in dump
    assert hashlib.sha256(sad.encode()).hexdigest() in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump
    # Every refusal counted as a failed activation of the signer, and audited with its hashes.
    failed = _audit(csc.env, "sign.activation_failed")
    assert sum(e["details"]["method"] == "SAD" for e in failed) >= 3
    refused = _audit(csc.env, "csc.sign_hash_refused")[:3]
    assert [e["details"]["hashes"] for e in refused] == [
        [base64.b64decode(x).hex()] for x in (a, a, b)
    ]


def test_expired_and_revoked_tokens_and_an_expired_sad_are_refused(csc: Csc) -> None:
    from ca_core.config import load_config
    from psre.app import create_app

    # Another worker of the same installation, configured for one-second tokens and SADs.
    one_second = {"PSRE_CSC_TOKEN_SECONDS": "1", "PSRE_CSC_SAD_SECONDS": "1"}
    app = create_app(load_config(csc.env.config, env={**csc.env.env(), **one_second}))
    token = csc_login(csc.acct)
    cred = credential_of(csc.acct, token, NIK)
    h = [b64sha(b"expiring")]
    try:
        auth = base64.b64encode(f"{csc.acct.username}:{csc.acct.password}".encode()).decode()
        http = app.test_client()
        resp = http.post("/csc/v2/auth/login", headers={"Authorization": f"Basic {auth}"})
        assert resp.status_code == 200 and resp.json["expires_in"] == 1
        short = resp.json["access_token"]
        body = {"credentialID": cred, "hash": h, "PIN": PASSPHRASE}
        resp = http.post(
            "/csc/v2/credentials/authorize", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 200 and resp.json["expiresIn"] == 1, resp.json
        short_sad = resp.json["SAD"]
    finally:
        app.extensions["psre"].close()
    time.sleep(1.2)
    status, body = _sign_hash(csc, token, cred, short_sad, h)
    assert status == 400 and "expired" in body["error_description"], body
    status, body = csc_call(csc.acct.base_url, "credentials/list", {"userID": NIK}, token=short)
    assert (status, body["error"]) == (401, "invalid_token") and "expired" in body[
        "error_description"
    ]
    assert csc_call(csc.acct.base_url, "auth/revoke", {"token": token}, token=token)[0] == 204
    status, body = csc_call(csc.acct.base_url, "credentials/list", {"userID": NIK}, token=token)
    assert (status, body["error"]) == (401, "invalid_token") and "revoked" in body[
        "error_description"
    ]
    status, body = csc_call(csc.acct.base_url, "auth/login", {}, basic=(csc.acct.username, "salah"))
    assert (status, body["error"]) == (401, "invalid_token")


def test_locked_signer_and_revoked_certificate_are_refused(csc: Csc) -> None:
    token = csc_login(csc.acct)
    add_signer(csc.env, csc.acct.base_url, "3174051203900011", "dewi@kemenkeu.go.id", PASSPHRASE)
    cred = credential_of(csc.acct, token, "3174051203900011")
    h = [b64sha(b"x")]
    answers = [_authorize(csc, token, cred, h, pin="salah") for _ in range(5)]
    assert [a[1]["error"] for a in answers] == ["invalid_pin"] * 4 + ["access_denied"], answers
    status, body = _authorize(csc, token, cred, h)  # the right PIN, too late
    assert (status, body["error"]) == (400, "access_denied") and body["locked_until"]

    serial = add_signer(
        csc.env, csc.acct.base_url, "3174051203900012", "eko@kemenkeu.go.id", PASSPHRASE
    )
    cred = credential_of(csc.acct, token, "3174051203900012")
    status, body = _authorize(csc, token, cred, h)
    assert status == 200
    sad = body["SAD"]
    csc.env.run("revoke", serial, "--reason", "keyCompromise")
    status, body = _sign_hash(csc, token, cred, sad, h)  # a SAD from before does not help
    assert (status, body["error"]) == (400, "invalid_request") and "cannot sign" in body[
        "error_description"
    ]
    status, body = _authorize(csc, token, cred, h)
    assert status == 400 and "cannot sign" in body["error_description"], body
    status, info = csc_call(
        csc.acct.base_url, "credentials/info", {"credentialID": cred}, token=token
    )
    assert info["cert"]["status"] == "revoked" and info["key"]["status"] == "disabled"


@pytest.mark.parametrize("prefer_pss", [False, True])
def test_rsa_signer_pkcs1_and_pss(csc: Csc, tmp_path: Path, prefer_pss: bool) -> None:
    nik = "317405120390002" + ("1" if prefer_pss else "0")
    add_signer(
        csc.env, csc.acct.base_url, nik, f"rsa{nik[-1]}@kemenkeu.go.id", PASSPHRASE, "rsa-2048"
    )
    signed = asyncio.run(
        csc_sign_pdf(csc.acct, nik, minimal_pdf("RSA"), pin=PASSPHRASE, prefer_pss=prefer_pss)
    )
    status = _status(csc.root, signed)
    assert status.summary().startswith("INTACT:TRUSTED"), status.summary()
    algo = status.md_algorithm, status.pkcs7_signature_mechanism
    assert ("rsassa_pss" in algo) == prefer_pss, algo
    _pdfsig_valid(tmp_path, signed)
    if prefer_pss:  # PSS parameters must name the request's hash for the digest and MGF1
        from asn1crypto import algos

        params = algos.RSASSAPSSParams(
            {
                "hash_algorithm": {"algorithm": "sha384"},
                "mask_gen_algorithm": {
                    "algorithm": "mgf1",
                    "parameters": {"algorithm": "sha384"},
                },
                "salt_length": 48,
            }
        )
        token = csc_login(csc.acct)
        cred = credential_of(csc.acct, token, nik)
        body = {
            "credentialID": cred, "SAD": "x", "hash": [b64sha(b"p")], "hashAlgo": SHA256,
            "signAlgo": "1.2.840.113549.1.1.10",
            "signAlgoParams": base64.b64encode(params.dump()).decode(),
        }  # fmt: skip
        status, answer = csc_call(csc.acct.base_url, "signatures/signHash", body, token=token)
        assert status == 400 and "signAlgoParams" in answer["error_description"], answer
        body["signAlgo"] = ECDSA_SHA256  # an EC algorithm for an RSA key
        del body["signAlgoParams"]
        status, answer = csc_call(csc.acct.base_url, "signatures/signHash", body, token=token)
        assert status == 400 and "RSA" in answer["error_description"], answer


def test_seal_credential_only_under_the_agency_activation(csc: Csc, tmp_path: Path) -> None:
    org = "NTRID-3100099999"
    add_agency(csc.env, csc.acct.base_url, org, "Badan Segel CSC", "segel@csc.go.id", PASSPHRASE)
    token = csc_login(csc.acct)
    cred = credential_of(csc.acct, token, org)
    # The agency's passphrase is no seal activation.
    status, body = _authorize(csc, token, cred, [b64sha(b"s")])
    assert (status, body["error"]) == (400, "invalid_pin"), body
    basic = base64.b64encode(f"{csc.acct.username}:{csc.acct.password}".encode()).decode()

    req = urllib.request.Request(
        f"{csc.acct.base_url}/api/v2/seal/get/activation",
        data=json.dumps({"idSubscriber": org, "passphrase": PASSPHRASE}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        activation = json.loads(r.read())["totp"]
    signed = asyncio.run(csc_sign_pdf(csc.acct, org, minimal_pdf("Segel"), pin=activation))
    assert _status(csc.root, signed).summary().startswith("INTACT:TRUSTED")
    assert "Badan Segel CSC" in _pdfsig_valid(tmp_path, signed)


def test_errors_and_openapi(csc: Csc) -> None:
    url = csc.acct.base_url
    status, body = csc_call(url, "credentials/list", {"userID": NIK})
    assert (status, body["error"]) == (401, "invalid_token")
    token = csc_login(csc.acct)
    assert (
        csc_call(url, "credentials/info", {"credentialID": "nope"}, token=token)[1]["error"]
        == "invalid_request"
    )
    status, body = csc_call(url, "nope/method", {}, token=token)
    assert (status, body["error"]) == (404, "not_found")
    with pytest.raises(urllib.error.HTTPError) as got:
        urllib.request.urlopen(f"{url}/csc/v2/signatures/signHash", timeout=30)
    assert got.value.code == 405 and got.value.headers["Allow"] == "POST"
    assert json.loads(got.value.read())["error"] == "invalid_request"
    status, body = csc_call(url, "info", {}, version="v1")
    assert (
        status == 200
        and body["specs"].startswith("1.0")
        and "signatures/signHash" in body["methods"]
    )
    status, body = csc_call(
        url, "signatures/timestamp", {"hash": b64sha(b"t"), "hashAlgo": SHA256}, token=token
    )
    assert status == 200 and body["timestamp"]
    with urllib_open(f"{url}/api/openapi.json") as doc:
        paths = json.loads(doc)["paths"]
    assert {"/csc/v2/credentials/authorize", "/csc/v2/signatures/signHash", "/csc/v1/info"} <= set(
        paths
    )


def urllib_open(url: str):
    import contextlib
    import urllib.request

    @contextlib.contextmanager
    def opened():
        with urllib.request.urlopen(url, timeout=30) as r:
            yield r.read()

    return opened()


def test_the_readme_example_signs(
    csc: Csc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's copy-paste pyHanko example, run as written (only the URL and secrets
    replaced), signs a PDF through this server."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("## Remote signing (CSC)", 1)[1].split("```python\n", 1)[1]
    code = code.split("```", 1)[0]
    ours = f'"{csc.acct.base_url}", "{csc.acct.username}", "{csc.acct.password}"'
    code = code.replace('"https://pki.example.go.id", "simaya", "client-secret"', ours)
    code = code.replace('"the signer\'s own passphrase"', f'"{PASSPHRASE}"')
    assert csc.acct.password in code and PASSPHRASE in code
    (tmp_path / "surat.pdf").write_bytes(minimal_pdf("README"))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
    signed = (tmp_path / "surat-signed.pdf").read_bytes()
    assert _status(csc.root, signed).summary().startswith("INTACT:TRUSTED")


def test_a_sad_sent_twice_at_once_signs_once(csc: Csc) -> None:
    """Concurrent replays (gunicorn workers, threads): the conditional UPDATE lets one win."""
    from concurrent.futures import ThreadPoolExecutor

    token = csc_login(csc.acct)
    cred = credential_of(csc.acct, token, NIK)
    h = [b64sha(b"race")]
    status, body = _authorize(csc, token, cred, h)
    assert status == 200, body
    # Four, not more: each loser counts as a failed activation, and signing.max_failures (5)
    # would lock this app out for the signer for the other tests of the module.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _sign_hash(csc, token, cred, body["SAD"], h), range(4)))
    assert sorted(a[0] for a in answers) == [200] + [400] * 3, answers
