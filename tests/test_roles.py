"""``psre serve --role``: the public role answers every public endpoint with no PKCS#11 module
loaded (``hsm.module`` names a missing file) and only reads the database, never signs live
(pre-signed OCSP or tryLater, never good for a serial not issued), and 404s the signing side;
the signing role serves the APIs, console, TSA and live OCSP, and starts no refresher. The real
``psre serve`` (gunicorn), real HTTP, openssl as the OCSP client."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import create_engine, text

from tests.cli_support import PSRE, PsreEnv, free_port, multipart, wait_http
from tests.conftest import PG_URL_ENV, _backends, _pg_schema_url
from tests.ocsp_support import openssl_ocsp
from tests.pdf_support import minimal_pdf
from tests.proc_support import tree

MISSING_MODULE = "/nonexistent/psre-test/libpkcs11-missing.so"
NEVER_ISSUED = "0x7a11ce0fba5e"

#: Method, path and body of requests only the signing side answers.
SIGNING_SIDE = [
    ("GET", "/api/openapi.json"),
    ("POST", "/api/v2/sign/pdf"),
    ("POST", "/api/sign/pdf"),
    ("GET", "/api/user/status/3174012345678901"),
    ("POST", "/tsa"),
    ("GET", "/console/"),
    ("GET", "/passphrase"),
    ("GET", "/csc/v2/info"),
]


@pytest.fixture(scope="module", params=_backends())
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A demo installation on SQLite, and on PostgreSQL (a schema of its own) when the test
    server is configured: there the public role's transactions are READ ONLY ones."""
    root = tmp_path_factory.mktemp("psre-roles")
    if request.param == "sqlite":
        env = PsreEnv(root)
        env.run("init")
        yield env
        return
    for url in _pg_schema_url(os.environ[PG_URL_ENV]):
        env = PsreEnv(root, {"PSRE_DATABASE_URL": url})
        env.run("init")
        yield env


@contextmanager
def serve(env: PsreEnv, role: str, log: Path, **extra_env: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*PSRE, "serve", "--host", "127.0.0.1", "--port", str(port), "--role", role],
            cwd=env.root,
            env={**env.env(), **extra_env},
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", timeout=60)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.headers.get("Content-Type", ""), ex.read()


def _query(env: PsreEnv, sql: str, **params: str) -> object:
    url = env.extra_env.get("PSRE_DATABASE_URL") or f"sqlite:///{env.root / 'var' / 'psre.sqlite3'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


def verify_upload(base_url: str, pdf: bytes) -> str:
    """The /verify page's verdict for ``pdf``, posted as a browser does (CSRF cookie + token)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(f"{base_url}/verify", timeout=60) as r:
        page = r.read().decode()
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, "no CSRF token on /verify"
    body, kind = multipart({"csrf_token": m.group(1)}, {"pdf": ("nota.pdf", pdf)})
    req = urllib.request.Request(f"{base_url}/verify", data=body, headers={"Content-Type": kind})
    with opener.open(req, timeout=120) as r:
        assert r.status == 200
        return r.read().decode()


def serial_of(env: PsreEnv, profile: str) -> str:
    sh = _query(env, "select serial_hex from certificates where profile = :p", p=profile)
    assert isinstance(sh, str)
    return sh


def audit_count(env: PsreEnv) -> int:
    n = _query(env, "select count(*) from audit_events")
    assert isinstance(n, int)
    return n


def issuing_pem(env: PsreEnv) -> Path:
    (path,) = sorted((env.root / "var" / "ceremonies").glob("*/issuing-ca.pem"))
    return path


def ocsp(env: PsreEnv, url: str, serial: str, *extra: str) -> str:
    return openssl_ocsp(
        "-issuer", issuing_pem(env), "-serial", serial, "-url", f"{url}/ocsp", "-noverify",
        "-resp_text", *extra,
    )  # fmt: skip


def mapped_libraries(pid: int) -> str:
    """Every file mapped by ``pid`` and its descendants (a loaded PKCS#11 module shows here)."""
    out = []
    for p in tree(pid):
        try:
            out.append(Path(f"/proc/{p}/maps").read_text())
        except OSError:
            continue
    return "\n".join(out)


def commands(pid: int) -> list[str]:
    out = []
    for p in tree(pid):
        try:
            out.append(Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return out


def test_public_role_serves_without_pkcs11_and_reads_only(demo: PsreEnv, tmp_path: Path):
    env = demo
    signer = "0x" + serial_of(env, "ocsp-signer")
    events = audit_count(env)
    log = tmp_path / "public.log"
    with serve(env, "public", log, PSRE_HSM_MODULE=MISSING_MODULE) as (url, pid):
        status, _, body = http("GET", f"{url}/healthz")
        assert status == 200, body
        health = json.loads(body)
        assert health["role"] == "public" and health["status"] == "ok", health
        assert health["hsm"] == {"ok": True, "loaded": False, "role": "public"}
        # Every public endpoint answers.
        status, kind, der = http("GET", f"{url}/ca/issuing-ca.crt")
        assert (status, kind) == (200, "application/pkix-cert")
        assert x509.load_der_x509_certificate(der).subject.rfc4514_string()
        status, kind, pem = http("GET", f"{url}/ca/root-ca.pem")
        assert status == 200 and b"BEGIN CERTIFICATE" in pem
        status, kind, crl = http("GET", f"{url}/crl/issuing-ca.crl")
        assert (status, kind) == (200, "application/pkix-crl")
        assert x509.load_der_x509_crl(crl).issuer == x509.load_der_x509_certificate(der).subject
        for path in ("/repository", "/cps", "/status", "/verify"):
            status, kind, page = http("GET", f"{url}{path}")
            assert status == 200 and kind.startswith("text/html"), (path, status, page[:300])
        assert b"issuing-ca" in http("GET", f"{url}/repository")[2]
        # Honest about this role: no HSM here, so the status page does not call it ok; and no
        # link to the console, which is not served here.
        page = http("GET", f"{url}/status")[2].decode()
        assert 'id="hsm-state">tidak digunakan oleh peran ini<' in page, page
        assert 'id="hsm-state">baik<' not in page
        for path in ("/status", "/verify", "/repository"):
            assert "/console/" not in http("GET", f"{url}{path}")[2].decode(), path
        # /verify reads an upload in a PDF worker against the read-only store: no key needed.
        assert "Tidak ada tanda tangan" in verify_upload(url, minimal_pdf("Nota Dinas"))
        # OCSP: the pre-signed answer; with a nonce the same answer without it (no key to sign
        # one); a serial never issued gets tryLater — never good.
        plain = ocsp(env, url, signer, "-no_nonce")
        assert "Cert Status: good" in plain, plain
        nonce = ocsp(env, url, signer)
        assert "Cert Status: good" in nonce and "OCSP Nonce" not in nonce, nonce
        never = ocsp(env, url, NEVER_ISSUED)
        assert "trylater" in never.lower() and "good" not in never.lower(), never
        # The signing side is not here.
        for method, path in SIGNING_SIDE:
            status, _, _ = http(method, f"{url}{path}", b"x" if method == "POST" else None)
            assert status == 404, (method, path, status)
        # No PKCS#11 module in any process of the server, and no refresher.
        maps = mapped_libraries(pid)
        assert "softhsm" not in maps.lower() and "pkcs11" not in maps.lower()
        assert maps.count("libpython") or maps.count("python")  # we did read the maps
        assert not [c for c in commands(pid) if "refresher" in c]
    assert audit_count(env) == events  # nothing written
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text()[-3000:]


def test_signing_role_serves_the_signing_side_and_live_ocsp(demo: PsreEnv, tmp_path: Path):
    env = demo
    signer = "0x" + serial_of(env, "ocsp-signer")
    with serve(env, "signing", tmp_path / "signing.log") as (url, pid):
        health = json.loads(http("GET", f"{url}/healthz")[2])
        assert health["role"] == "signing" and health["hsm"]["ok"] is True, health
        for method, path in SIGNING_SIDE:
            status, _, _ = http(method, f"{url}{path}", b"x" if method == "POST" else None)
            assert status != 404, (method, path, status)
        assert http("GET", f"{url}/api/openapi.json")[0] == 200
        page = http("GET", f"{url}/status")[2].decode()
        assert 'id="hsm-state">baik<' in page and 'id="nav-console"' in page, page
        # Public pages too.
        for path in ("/ca/issuing-ca.crt", "/crl/issuing-ca.crl", "/repository", "/verify"):
            assert http("GET", f"{url}{path}")[0] == 200, path
        # Live OCSP: the nonce is echoed in a fresh signature; a serial never issued is
        # answered (RFC 6960 §2.2 extended revoked), not tryLater.
        live = ocsp(env, url, signer)
        assert "Cert Status: good" in live and "OCSP Nonce" in live, live
        never = ocsp(env, url, NEVER_ISSUED)
        assert "Cert Status: revoked" in never, never
        # A signing host runs no refresher of its own (run ``psre refresher`` somewhere).
        assert not [c for c in commands(pid) if "refresher" in c]


def test_role_from_the_environment_and_refused_when_unknown(demo: PsreEnv, tmp_path: Path):
    with serve(demo, "public", tmp_path / "a.log", PSRE_SERVER_ROLE="signing") as (url, _):
        # --role wins over server.role (here from PSRE_SERVER_ROLE).
        assert json.loads(http("GET", f"{url}/healthz")[2])["role"] == "public"
    bad = demo.run("serve", "--role", "everything", check=False)
    assert bad.returncode == 2 and "everything" in bad.stderr
    shown = demo.run("config", "show", extra_env={"PSRE_SERVER_ROLE": "nope"}, check=False)
    assert shown.returncode == 2 and "server.role" in shown.stderr
