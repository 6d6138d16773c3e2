"""An operator's first hour (issue 20): a fresh installation on the default, local configuration,
run as the README says — no warnings on the screen, the installation found from wherever the
command runs, the port coherent with the URLs put into certificates, every profile issuable."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.cli_support import PSRE, PsreEnv, serving
from tests.pdf_support import minimal_pdf

WARNING_RE = re.compile(r"Warning|warning:", re.IGNORECASE)


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    """``psre init`` with the demo PKI and nothing but defaults (public_base_url on 127.0.0.1)."""
    env = PsreEnv(tmp_path_factory.mktemp("first-hour"))
    out = env.run("init")
    assert not WARNING_RE.search(out.stderr), out.stderr
    return env


def run_bare(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``psre`` as a person types it: no PSRE_CONFIG, only the working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSRE_")}
    env.pop("SOFTHSM2_CONF", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run(
        [*PSRE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_no_command_prints_a_warning(inst, tmp_path):
    pdf = tmp_path / "plain.pdf"
    pdf.write_bytes(minimal_pdf())
    for args in (
        ("--help",),
        ("config", "show"),
        ("ca", "list"),
        ("audit", "verify"),
        ("pdf", "verify", str(pdf)),
    ):
        res = inst.run(*args, check=False)
        assert not WARNING_RE.search(res.stderr), f"psre {' '.join(args)}: {res.stderr}"
        assert "Traceback" not in res.stderr


def test_smime_mailbox_issues_on_the_default_local_configuration(inst, tmp_path):
    key, csr = tmp_path / "m.key", tmp_path / "m.csr"
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=ani@example.go.id",
         "-addext", "subjectAltName=email:ani@example.go.id"],
        check=True, capture_output=True,
    )  # fmt: skip
    out = tmp_path / "m.pem"
    res = inst.run("issue", "--profile", "smime-mailbox", "--csr", str(csr), "--out", str(out))
    assert "issued smime-mailbox certificate" in res.stdout
    text = subprocess.run(
        ["openssl", "x509", "-in", str(out), "-noout", "-text"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "http://127.0.0.1:8080/crl/issuing-ca.crl" in text


def test_commands_find_the_installation_from_a_subdirectory(inst):
    sub = inst.root / "work" / "deeper"
    sub.mkdir(parents=True, exist_ok=True)
    res = run_bare(sub, "ca", "list")
    assert res.returncode == 0, res.stderr
    assert "issuing-ca" in res.stdout
    assert not (sub / "var").exists()


def test_a_command_without_an_installation_refuses_and_names_where_it_looked(tmp_path):
    res = run_bare(tmp_path, "subscriber", "show", "3174012345678901")
    assert res.returncode == 2
    assert "no psre installation here" in res.stderr
    assert str(tmp_path / "psre.toml") in res.stderr
    assert "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was created
    helped = run_bare(tmp_path, "issue", "--help")  # help needs no installation
    assert helped.returncode == 0 and "Usage: psre issue" in helped.stdout


def test_first_init_keeps_the_port_and_the_certificate_urls_together(tmp_path):
    env = PsreEnv(tmp_path, {"PSRE_SERVER_PORT": "9191"})
    env.run("init", "--no-demo")
    written = tomllib.loads(env.config.read_text())
    assert written["server"]["port"] == 9191
    assert written["public_base_url"] == "http://127.0.0.1:9191"


def test_serve_names_its_urls_warns_on_a_port_mismatch_and_keeps_gunicorn_out_of_home(
    inst, tmp_path
):
    home = tmp_path / "home"
    home.mkdir()
    env = PsreEnv(inst.root, {"HOME": str(home)})
    log = tmp_path / "serve.log"
    with serving(env, stderr_to=log) as base:
        port = base.rsplit(":", 1)[1]
    said = log.read_text()
    assert f"psre: serving http://127.0.0.1:{port}" in said
    assert "/console/" in said and "psre operator add" in said
    # The installation says 8080 in its certificates; this server listens elsewhere.
    assert f"serving on port {port}, but public_base_url is http://127.0.0.1:8080" in said
    # gunicorn's control socket would otherwise sit in ~/.gunicorn, shared by every instance.
    assert not (home / ".gunicorn").exists()
