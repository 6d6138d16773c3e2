"""The e-sign API end to end as an operator sets it up and a government app calls it: real
``psre`` processes (init with the demo PKI, ``client add --json``, ``subscriber add``, ``issue
--profile natural-person --subscriber NIK``), then ``psre serve`` (gunicorn, two workers) on a
free port, called over real sockets with urllib and curl; the subscriber sets their own
passphrase on the served page with the code ``psre outbox take`` hands the mail gateway.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_support import PsreEnv, add_agency, choose_passphrase, install_esign, serving
from tests.pdf_support import minimal_pdf

BASE_URL = "http://pki.psre-uji.id"
NIK = "3174051203900001"
PASSPHRASE = "rahasia-tte-2026"


@dataclass
class Server:
    env: PsreEnv
    url: str
    username: str
    password: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = PsreEnv(tmp_path_factory.mktemp("psre-esign"), {"PSRE_PUBLIC_BASE_URL": BASE_URL})
    inst = install_esign(env, nik=NIK, passphrase=PASSPHRASE)
    with serving(env) as url:
        yield Server(env, url, inst.username, inst.password)


def call(
    s: Server, method: str, path: str, body: object = None, auth: tuple[str, str] | None = ()
) -> tuple[int, dict[str, str], bytes]:
    user, pw = (s.username, s.password) if auth == () else (auth or ("", ""))
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(s.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as ex:
        return ex.code, dict(ex.headers), ex.read()


def test_status_and_client_auth_over_http(server: Server) -> None:
    status, _, body = call(server, "GET", f"/api/user/status/{NIK}")
    assert status == 200 and json.loads(body)["status"] == "ISSUE"
    status, headers, body = call(server, "GET", f"/api/user/status/{NIK}", auth=None)
    assert status == 401 and json.loads(body)["status_code"] == 4010
    assert headers["WWW-Authenticate"].startswith("Basic")
    wrong = (server.username, "not-the-password")
    assert call(server, "GET", f"/api/user/status/{NIK}", auth=wrong)[0] == 401
    status, _, body = call(server, "GET", "/api/openapi.json", auth=None)
    assert status == 200 and "/api/v2/sign/pdf" in json.loads(body)["paths"]


def test_sign_over_http_with_curl_and_json(server: Server, tmp_path: Path) -> None:
    pdf = tmp_path / "surat.pdf"
    pdf.write_bytes(minimal_pdf("Surat Keputusan"))
    out = tmp_path / "signed.pdf"
    res = subprocess.run(
        [
            "curl",
            "-sS",
            "-u",
            f"{server.username}:{server.password}",
            "-F",
            f"file=@{pdf};type=application/pdf",
            "-F",
            f"nik={NIK}",
            "-F",
            f"passphrase={PASSPHRASE}",
            "-F",
            "tampilan=invisible",
            "-o",
            str(out),
            "-D",
            "-",
            "-w",
            "%{http_code}",
            f"{server.url}/api/sign/pdf",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    code = res.stdout.strip().splitlines()[-1]
    assert code == "200", out.read_bytes()[:500]
    assert "id_dokumen:" in res.stdout.lower()
    sig = subprocess.run(["pdfsig", str(out)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in sig.stdout, sig.stdout
    body = {
        "nik": NIK,
        "passphrase": PASSPHRASE,
        "file": [base64.b64encode(pdf.read_bytes()).decode()],
    }
    status, _, answer = call(server, "POST", "/api/v2/sign/pdf", body)
    assert status == 200, answer
    (signed,) = json.loads(answer)["file"]
    out.write_bytes(base64.b64decode(signed))
    sig = subprocess.run(["pdfsig", str(out)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in sig.stdout, sig.stdout


def test_agency_seal_over_http(server: Server, tmp_path: Path) -> None:
    org = "NTRID-3100012345"
    add_agency(server.env, server.url, org, "Badan Uji Segel", "segel@badanuji.go.id", PASSPHRASE)
    status, _, body = call(
        server,
        "POST",
        "/api/v2/seal/get/activation",
        {"idSubscriber": org, "passphrase": PASSPHRASE},
    )
    assert status == 200, body
    token = json.loads(body)["totp"]
    status, _, body = call(
        server,
        "POST",
        "/api/v2/seal/get/totp",
        {"idSubscriber": org, "activation": token, "data": 1},
    )
    assert status == 200, body
    code = json.loads(body)["totp"]
    pdf = base64.b64encode(minimal_pdf("Keputusan Kepala Badan")).decode()
    status, _, body = call(
        server, "POST", "/api/v2/seal/pdf", {"idSubscriber": org, "totp": code, "file": [pdf]}
    )
    assert status == 200, body
    out = tmp_path / "sealed.pdf"
    out.write_bytes(base64.b64decode(json.loads(body)["file"][0]))
    sig = subprocess.run(["pdfsig", str(out)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in sig.stdout and "Badan Uji Segel" in sig.stdout, sig.stdout


def test_client_commands(server: Server) -> None:
    env = server.env
    listed = json.loads(env.run("client", "list", "--json").stdout)
    assert [c["username"] for c in listed] == [server.username] == ["simaya-uji"]
    assert listed[0]["enabled"] is True and "password" not in json.dumps(listed)
    env.run("client", "set", server.username, "--level", "B-B", "--rate-limit", "100")
    (row,) = json.loads(env.run("client", "list", "--json").stdout)
    assert row["default_level"] == "B-B" and row["rate_limit_per_minute"] == 100
    env.run("client", "set", server.username, "--level", "B-LT", "--rate-limit", "0")
    dup = env.run("client", "add", "siMAYA Uji", check=False)
    assert dup.returncode == 2 and "already exists" in dup.stderr
    plain = env.run("client", "add", "PNSMail", "--username", "pnsmail-uji").stdout
    assert "username: pnsmail-uji" in plain and "password: " in plain
    env.run("client", "disable", "pnsmail-uji")
    password = plain.split("password: ")[1].split()[0]
    status, _, _ = call(server, "GET", f"/api/user/status/{NIK}", auth=("pnsmail-uji", password))
    assert status == 401


def test_lockout_is_shared_by_the_workers_and_a_disabled_client_is_refused(server: Server) -> None:
    nik = "3174051203900002"
    server.env.run(
        "subscriber",
        "add",
        "--nik",
        nik,
        "--name",
        "Agus Salim",
        "--email",
        "agus.salim@kemenkeu.go.id",
        "--agency",
        "Kementerian Keuangan",
    )
    server.env.run("issue", "--profile", "natural-person", "--subscriber", nik, "--out", "a.pem")
    choose_passphrase(server.env, server.url, "agus.salim@kemenkeu.go.id", PASSPHRASE)
    body = {"nik": nik, "passphrase": "salah", "file": [base64.b64encode(minimal_pdf()).decode()]}
    # Requests land on either gunicorn worker; the count is the database's.
    answers = [call(server, "POST", "/api/v2/sign/pdf", body) for _ in range(6)]
    assert [a[0] for a in answers] == [400, 400, 400, 400, 423, 423]
    assert json.loads(answers[-1][2])["locked"] is True
    good = {**body, "passphrase": PASSPHRASE}
    assert call(server, "POST", "/api/v2/sign/pdf", good)[0] == 423
    audit = server.env.run("audit", "verify")
    assert audit.returncode == 0
    server.env.run("client", "disable", server.username)
    assert call(server, "GET", f"/api/user/status/{nik}")[0] == 401
