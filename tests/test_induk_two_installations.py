"""Two psre installations (issue 21): the first runs as the PSrE Induk, the second as a PSrE it
certifies. The second's CA key is generated in the second's own SoftHSM token; the Induk
certifies it from the second's CSR in a ceremony; the second installs the certificate (key
match checked), makes its OCSP responder and TSA, issues a signer and signs PDFs, served by its
own ``psre serve``. The Induk's ``/verify`` (and ``psre pdf verify``) judges them VALID with the
second's live OCSP answer fetched; after the Induk revokes the PSrE's CA in a ceremony, the B-B
PDF is INVALID and the B-LTA one, timestamped before, stays VALID.

The revocation reason is cessationOfOperation (the PSrE's licence ended), not a compromise:
verify_status's compromise rule would void every signature under a compromised CA whatever its
timestamp, which is right for a compromise and not what this case is about.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ceremony_support import DELEGATED, HEAD, ceremony_file, dates, run_ceremony
from tests.cli_support import PsreEnv, choose_passphrase_in_app, free_port, serving
from tests.pdf_support import minimal_pdf

PASSPHRASE = "hanya-sari-yang-tahu"

KEY_AND_CSR = """
[[step]]
type = "intermediate-key"
title = "PSrE Contoh CA key (in this PSrE's own HSM) and its CSR"
key_label = "contoh-ca"
key_type = "ec-p384"
profile = "issuing-ca"
subject = {{ C = "ID", O = "PT Contoh Tanda Tangan", CN = "PSrE Contoh CA" }}
outputs = {{ csr = "out/contoh-ca.csr.pem" }}
"""

CERTIFY = """
[[step]]
type = "certify-psre"
title = "Root CA certifies PSrE Contoh's CA"
ca = "psre-contoh"
issuer = "root-ca"
csr = "{csr}"
profile = "psre-subordinate"
subject = {{ O = "PT Contoh Tanda Tangan", CN = "PSrE Contoh CA" }}
not_before = {nb}
not_after = {issuing_na}
service_url = "{url}"
outputs = {{ certificate = "out/psre-contoh-ca.pem" }}
"""

IMPORT = """
[[step]]
type = "import-ca-cert"
title = "Install the CA certificate from the PSrE Induk"
ca = "issuing-ca"
key_label = "contoh-ca"
certificate = "{chain}"
"""

REVOKE = """
[[step]]
type = "revoke-psre"
title = "Revoke PSrE Contoh's CA: its licence ended"
ca = "psre-contoh"
issuer = "root-ca"
reason = "cessationOfOperation"
outputs = {{ crl = "out/root-after-revocation.crl" }}
"""


@dataclass
class World:
    induk: PsreEnv
    psre: PsreEnv
    induk_port: int
    psre_port: int
    b_b: Path
    b_lta: Path
    nik: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    induk_port, psre_port = free_port(), free_port()
    induk = PsreEnv(
        tmp_path_factory.mktemp("induk"),
        {
            "PSRE_PUBLIC_BASE_URL": f"http://127.0.0.1:{induk_port}",
            "PSRE_VERIFY_FETCH_REVOCATION": "true",
            "PSRE_VERIFY_FETCH_TIMEOUT_SECONDS": "3",
        },
    )
    psre = PsreEnv(
        tmp_path_factory.mktemp("psre-contoh"),
        {"PSRE_PUBLIC_BASE_URL": f"http://127.0.0.1:{psre_port}"},
    )
    induk.run("init")  # the Induk's root (and its own demo issuing CA) by ceremonies
    psre.run("init", "--no-demo")  # no CA yet: its CA will be certified by the Induk

    # 1. The PSrE makes its CA key in its own token, and a CSR.
    run_ceremony(psre, "contoh-ca-key", KEY_AND_CSR, "contoh-ca")
    csr = psre.root / "ceremonies" / "out" / "contoh-ca.csr.pem"
    # 2. The Induk certifies it (the key is not on the Induk's token).
    certify = CERTIFY.replace("{csr}", str(csr)).replace("{url}", f"http://127.0.0.1:{psre_port}")
    run_ceremony(induk, "certify-contoh", certify, "demo-root-ca")
    induk.run("ocsp", "presign")
    root = induk.root / "root.pem"
    induk.run("ca", "export", "root-ca", "--out", str(root))
    chain = psre.root / "contoh-ca-chain.pem"
    issued = induk.root / "ceremonies" / "out" / "psre-contoh-ca.pem"
    chain.write_bytes(issued.read_bytes() + root.read_bytes())
    # 3. The PSrE installs it, then makes its OCSP responder and TSA under it.
    run_ceremony(
        psre,
        "contoh-install",
        IMPORT.replace("{chain}", str(chain))
        + DELEGATED.replace("{issuing}", "issuing-ca").replace("{tag}", "contoh"),
        "contoh-ca",
    )
    # 4. A signer; its certificate, the CRL and the OCSP answers of the PSrE.
    nik = "3273" + "".join(secrets.choice("0123456789") for _ in range(12))
    psre.run(
        "subscriber", "add", "--nik", nik, "--name", "Sari Wulandari",
        "--email", f"sari.{nik[-4:]}@contoh.go.id", "--agency", "Pemerintah Kota Contoh",
    )  # fmt: skip
    psre.run("issue", "--profile", "natural-person", "--subscriber", nik,
             "--out", str(psre.root / "signer.pem"))  # fmt: skip
    # Sole control: the signer sets their own passphrase (the enrolment code from the outbox).
    choose_passphrase_in_app(psre, f"sari.{nik[-4:]}@contoh.go.id", PASSPHRASE)
    secret = psre.root / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    psre.run("crl", "generate")
    psre.run("ocsp", "presign")
    doc = psre.root / "surat.pdf"
    doc.write_bytes(minimal_pdf("Surat Keputusan PSrE Contoh"))
    b_b, b_lta = psre.root / "surat-b-b.pdf", psre.root / "surat-b-lta.pdf"
    for out, level in ((b_b, "B-B"), (b_lta, "B-LTA")):
        psre.run("pdf", "sign", str(doc), "--subscriber", nik, "--out", str(out),
                 "--level", level, "--passphrase-file", str(secret))  # fmt: skip
    return World(induk, psre, induk_port, psre_port, b_b, b_lta, nik)


@pytest.fixture(scope="module")
def servers(world: World) -> Iterator[tuple[str, str]]:
    log = world.psre.root / "serve.err"
    with serving(world.psre, port=world.psre_port, stderr_to=log) as psre_url:
        with serving(world.induk, port=world.induk_port) as induk_url:
            yield induk_url, psre_url


def verify_page(base: str, pdf: Path, tmp: Path) -> tuple[str, str]:
    """Upload ``pdf`` to ``base``/verify with curl (cookie + CSRF token as a browser does);
    returns (data-summary, page)."""
    jar = tmp / f"jar-{secrets.token_hex(3)}"
    page = subprocess.run(
        ["curl", "-sf", "-c", str(jar), f"{base}/verify"], capture_output=True, text=True,
        check=True, timeout=60,
    ).stdout  # fmt: skip
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:500]
    html = subprocess.run(
        ["curl", "-s", "-b", str(jar), "-F", f"csrf_token={token.group(1)}",
         "-F", f"pdf=@{pdf};type=application/pdf", f"{base}/verify"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    m = re.search(r'data-summary="(\w+)"', html)
    assert m, html[:2000]
    return m.group(1), html


def cli_verify(env: PsreEnv, pdf: Path) -> dict:
    res = env.run("pdf", "verify", str(pdf), "--json", check=False)
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)


def test_psre_ca_key_stayed_in_its_own_token(world: World):
    """The CA key exists on the PSrE's token only; the Induk's token never had it."""
    psre_keys = {k["label"] for k in json.loads(world.psre.run("hsm", "list", "--json").stdout)}
    induk_keys = {k["label"] for k in json.loads(world.induk.run("hsm", "list", "--json").stdout)}
    assert "contoh-ca" in psre_keys and "contoh-ca" not in induk_keys


def test_a_csr_of_the_induks_own_key_is_refused(world: World):
    """certify-psre is for a key in another HSM: the Induk's own key is refused."""
    csr_step = """
[[step]]
type = "intermediate-key"
title = "a key on the Induk's own token"
key_label = "induk-own-{tag}"
key_type = "ec-p384"
profile = "issuing-ca"
subject = {{ C = "ID", O = "PT Contoh Tanda Tangan", CN = "PSrE Salah CA" }}
outputs = {{ csr = "out/own-{tag}.csr.pem" }}

[[step]]
type = "certify-psre"
title = "certify it as if it were a PSrE's"
ca = "psre-salah-{tag}"
issuer = "root-ca"
csr = "out/own-{tag}.csr.pem"
profile = "psre-subordinate"
subject = {{ O = "PT Contoh Tanda Tangan", CN = "PSrE Salah CA" }}
not_before = {nb}
not_after = {issuing_na}
outputs = {{ certificate = "out/salah-{tag}.pem" }}
"""
    path, _tag = ceremony_file(
        world.induk.root / "refusal", "psre-dev", csr_step, sign_with="demo-root-ca", name="own"
    )
    res = world.induk.run("ceremony", "run", str(path), "--yes", check=False)
    assert res.returncode != 0
    assert "is key 'induk-own-" in res.stdout + res.stderr or "on this token" in (
        res.stdout + res.stderr
    ), res.stdout + res.stderr


def test_import_refuses_a_certificate_of_another_key(world: World):
    """import-ca-cert: the certificate must certify the named key of this token."""
    other = world.induk.root / "other-chain.pem"
    world.induk.run("ca", "export", "issuing-ca", "--out", str(other))
    _fail = IMPORT.replace("{chain}", str(other)).replace('ca = "issuing-ca"', 'ca = "wrong-ca"')
    values = {"name": "wrong-import", "token": "psre-dev", "sign_with": "contoh-ca", **dates()}
    path = world.psre.root / "ceremonies" / "wrong-import.toml"
    path.write_text(HEAD.format(**values) + _fail.format(**values), encoding="utf-8")
    res = world.psre.run("ceremony", "run", str(path), "--yes", check=False)
    assert res.returncode != 0
    assert "does not certify key 'contoh-ca'" in res.stdout + res.stderr
    names = {c["name"] for c in json.loads(world.psre.run("ca", "list", "--json").stdout)}
    assert "wrong-ca" not in names


def test_psre_signature_verifies_at_the_induk_until_the_induk_revokes_it(
    world: World, servers: tuple[str, str], tmp_path: Path
):
    induk_url, _psre_url = servers
    # Before: both PDFs VALID on the Induk's /verify, with the PSrE named.
    for pdf in (world.b_b, world.b_lta):
        summary, html = verify_page(induk_url, pdf, tmp_path)
        assert summary == "VALID", re.findall(r"<li>(.*?)</li>", html)
        assert "PT Contoh Tanda Tangan" in html
    report = cli_verify(world.induk, world.b_b)
    assert report["summary"] == "VALID", report
    (sig,) = report["signatures"]
    assert sig["psre"] == "PT Contoh Tanda Tangan"
    assert [c["status"] for c in sig["chain"]] == ["good", "good"]
    # The B-B PDF carries no revocation data: its signer's status came from the PSrE's live
    # OCSP. Without the fetch the Induk cannot know it, and says so (never "good").
    offline = PsreEnv(world.induk.root, {**world.induk.extra_env,
                                         "PSRE_VERIFY_FETCH_REVOCATION": "false"})  # fmt: skip
    unknown = cli_verify(offline, world.b_b)
    assert unknown["summary"] == "INVALID"
    assert unknown["signatures"][0]["chain"][0]["status"] == "unknown"

    # The Induk revokes the PSrE's CA (its licence ended) in a witnessed ceremony.
    run_ceremony(world.induk, "revoke-contoh", REVOKE, "demo-root-ca")

    summary, html = verify_page(induk_url, world.b_b, tmp_path)
    assert summary == "INVALID"
    report = cli_verify(world.induk, world.b_b)
    problems = " ".join(report["signatures"][0]["problems"])
    assert "PSrE Contoh CA" in problems and "revoked" in problems, problems
    # Timestamped before the revocation, not a compromise: still valid (long-term validation).
    summary, html = verify_page(induk_url, world.b_lta, tmp_path)
    assert summary == "VALID", re.findall(r"<li>(.*?)</li>", html)
    report = cli_verify(world.induk, world.b_lta)
    assert report["summary"] == "VALID", report
    (sig,) = report["signatures"]
    ca = next(c for c in sig["chain"] if c["role"] == "signer-ca")
    assert ca["status"] == "good" and ca["status_now"] == "revoked"
    assert ca["revocation_reason"] == "cessationOfOperation"
