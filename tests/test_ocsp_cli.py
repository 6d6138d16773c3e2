"""``psre init`` pre-signs the demo hierarchy's responses (idempotently) and the ``psre ocsp``
commands, as real processes on a real token and database."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from tests.cli_support import PsreEnv


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    env = PsreEnv(tmp_path_factory.mktemp("psre-ocsp"))
    first = env.run("init")
    assert "OCSP: " in first.stdout
    signed = int(first.stdout.split("OCSP: ")[1].split()[0])
    # issuing CA under the root + OCSP signer + TSA under the issuing CA, SHA-1 and SHA-256 each
    assert signed >= 6, first.stdout
    return env


def serial_of(env: PsreEnv, profile: str) -> str:
    db = sqlite3.connect(env.root / "var" / "psre.sqlite3")
    try:
        (sh,) = db.execute("select serial_hex from certificates where profile = ?", (profile,))
    finally:
        db.close()
    return sh[0]


def test_init_presigns_once_and_publishes_files(demo: PsreEnv):
    again = demo.run("init")
    assert "OCSP: 0 responses pre-signed" in again.stdout
    files = [p for p in (demo.root / "var" / "public" / "ocsp").rglob("*") if p.is_file()]
    assert len(files) >= 6


def test_status_revoke_is_reflected_at_once(demo: PsreEnv):
    # A subscriber's certificate: the TSA's (a CA-level one) changes status only by ceremony or
    # two admins, never through ``psre revoke``.
    demo.run("subscriber", "add", "--nik", "3174011111110001", "--name", "Sari Dewi",
             "--email", "sari.dewi@example.go.id", "--agency", "Kementerian Contoh")  # fmt: skip
    demo.run("issue", "--profile", "natural-person", "--subscriber", "3174011111110001",
             "--out", str(demo.root / "sari.pem"))  # fmt: skip
    sh = serial_of(demo, "natural-person")
    out = demo.run("ocsp", "status", sh).stdout
    assert f"certificate {sh} from issuing-ca: good" in out
    assert out.count(" good  thisUpdate") == 2, out  # sha1 and sha256
    demo.run("revoke", sh, "--reason", "superseded")
    out = demo.run("ocsp", "status", sh).stdout
    assert out.count(" revoked (superseded)  thisUpdate") == 2, out


def test_presign_force_refresher_once_and_nginx_conf(demo: PsreEnv):
    out = demo.run("ocsp", "presign", "--force").stdout
    assert "issuing-ca:" in out and "root-ca:" in out
    demo.run("refresher", "--once")
    conf = demo.run("ocsp", "nginx-conf", "--listen", "127.0.0.1:8089").stdout
    assert f"root {demo.root / 'var' / 'public'};" in conf
    assert "listen 127.0.0.1:8089;" in conf and "expires modified +96h;" in conf
    bad = demo.run("ocsp", "presign", "--ca", "nope", check=False)
    assert bad.returncode == 2 and "no CA named 'nope'" in bad.stderr


def test_openssl_reads_a_published_file(demo: PsreEnv, tmp_path):
    """The file at the canonical GET path is a response openssl accepts for that certificate."""
    sh = serial_of(demo, "ocsp-signer")
    demo.run("ca", "export", "issuing-ca", "--out", str(tmp_path / "chain.pem"))
    req = tmp_path / "req.der"
    subprocess.run(
        ["openssl", "ocsp", "-issuer", tmp_path / "chain.pem", "-serial", f"0x{sh}",
         "-no_nonce", "-reqout", req],
        check=True, capture_output=True,
    )  # fmt: skip
    from ocsp.static import file_for

    path = file_for(demo.root / "var" / "public", req.read_bytes())
    out = subprocess.run(
        ["openssl", "ocsp", "-respin", path, "-issuer", tmp_path / "chain.pem",
         "-serial", f"0x{sh}", "-CAfile", tmp_path / "chain.pem", "-no_nonce"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "Response verify OK" in out.stderr + out.stdout, out
    assert f"0x{sh}: good" in out.stdout, out.stdout
