"""``psre trusted-list publish`` (issue 21): the national trusted list as ETSI TS 119 612 XML
with an enveloped XAdES signature made in the HSM — checked by Debian's ``xmlsec1 --verify``
against the Induk's root, and refused by it once a byte changes — and as JSON; a PSrE revoked in
a ceremony is listed as withdrawn since that time; both files are served at ``/tl/`` and the
repository page shows the list."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.ceremony_support import run_ceremony
from tests.cli_support import REPO, PsreEnv, serving

EXAMPLES = REPO / "ceremony_scripts" / "examples"

PSRE_SUBJECT = ", ".join(
    ('O = "PT Contoh Tanda Tangan"', 'organizationIdentifier = "NTRID-8120001234567"',
     'CN = "PSrE Contoh CA G1"')
)  # fmt: skip
STEPS = """
[[step]]
type = "certify-psre"
title = "Certify PSrE Contoh's CA"
ca = "psre-contoh"
issuer = "root-ca"
csr = "{csr}"
profile = "psre-subordinate"
subject = {{ {psre_subject} }}
not_before = {nb}
not_after = {issuing_na}
service_url = "https://pki.contoh-ttd.co.id"
outputs = {{ certificate = "out/psre-contoh-ca.pem" }}

[[step]]
type = "tl-signer"
title = "Trusted list signing key"
issuer = "root-ca"
key_label = "tl-signer-1"
key_type = "ec-p256"
profile = "tl-signer"
subject = {{ C = "ID", O = "Kementerian Komunikasi dan Digital", CN = "Penanda Tangan TSL" }}
not_before = {nb}
not_after = {tsa_na}
outputs = {{ certificate = "out/tl-signer.pem" }}
"""

REVOKE = """
[[step]]
type = "revoke-psre"
title = "PSrE Contoh's licence ended"
ca = "psre-contoh"
issuer = "root-ca"
reason = "cessationOfOperation"
outputs = {{ crl = "out/arl-2.crl" }}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    e = PsreEnv(tmp_path_factory.mktemp("tl"))
    e.run("init")
    steps = STEPS.replace("{csr}", str(EXAMPLES / "psre-contoh-ca.csr.pem")).replace(
        "{psre_subject}", PSRE_SUBJECT
    )
    run_ceremony(e, "induk", steps, "demo-root-ca")
    e.run("ca", "export", "root-ca", "--out", str(e.root / "root.pem"))
    return e


def xmlsec_verify(xml: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """Debian's xmlsec1: the enveloped signature, its XAdES SignedProperties and the signer's
    certificate chain up to ``root``."""
    return subprocess.run(
        ["xmlsec1", "--verify", "--id-attr:Id", "TrustServiceStatusList",
         "--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
         "--trusted-pem", str(root), str(xml)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def publish(env: PsreEnv) -> tuple[Path, dict]:
    res = env.run("trusted-list", "publish")
    assert "trusted list #" in res.stdout
    out = env.root / "var" / "public" / "tl"
    return out / "tl.xml", json.loads((out / "tl.json").read_text(encoding="utf-8"))


def test_list_is_signed_in_the_hsm_and_xmlsec1_verifies_it(env: PsreEnv, tmp_path: Path):
    xml, data = publish(env)
    res = xmlsec_verify(xml, env.root / "root.pem")
    assert res.returncode == 0 and "OK" in res.stderr + res.stdout, res.stderr
    text = xml.read_text(encoding="utf-8")
    assert 'TSLTag="http://uri.etsi.org/19612/TSLTag"' in text
    assert "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted" in text
    assert "xades:SignedProperties" in text and "<SchemeTerritory>ID</SchemeTerritory>" in text
    (entry,) = data["providers"]
    issued = x509.load_pem_x509_certificate(
        (env.root / "ceremonies" / "out" / "psre-contoh-ca.pem").read_bytes()
    ).public_bytes(serialization.Encoding.DER)
    assert base64.b64decode(entry["certificate"]) == issued
    assert entry["provider"] == "PT Contoh Tanda Tangan" and entry["status"] == "granted"
    assert entry["service_url"] == "https://pki.contoh-ttd.co.id"
    # One changed byte (granted → withdrawn of the list's only entry): xmlsec1 refuses it.
    forged = tmp_path / "forged.xml"
    forged.write_text(text.replace("Svcstatus/granted", "Svcstatus/withdrawn"), encoding="utf-8")
    assert xmlsec_verify(forged, env.root / "root.pem").returncode != 0
    shown = env.run("audit", "show", "--action", "trusted_list.publish", "--json")
    events = json.loads(shown.stdout)
    assert events and events[0]["details"]["entries"] == 1


def test_revoked_psre_is_withdrawn_since_its_revocation(env: PsreEnv):
    _, before = publish(env)
    run_ceremony(env, "revoke", REVOKE, "demo-root-ca")
    xml, data = publish(env)
    assert data["sequence_number"] == before["sequence_number"] + 1
    (entry,) = data["providers"]
    assert entry["status"] == "withdrawn" and entry["withdrawn_at"]
    assert entry["status_starting_time"] == entry["withdrawn_at"]
    assert "Svcstatus/withdrawn" in xml.read_text(encoding="utf-8")
    assert xmlsec_verify(xml, env.root / "root.pem").returncode == 0


def test_served_at_tl_and_shown_on_the_repository_page(env: PsreEnv):
    xml, _ = publish(env)
    with serving(env) as base:
        with urllib.request.urlopen(f"{base}/tl/tl.xml", timeout=10) as r:
            assert r.read() == xml.read_bytes()
            assert r.headers["Content-Type"].startswith("application/vnd.etsi.tsl+xml")
        with urllib.request.urlopen(f"{base}/tl/tl.json", timeout=10) as r:
            assert json.loads(r.read())["providers"][0]["name"] == "psre-contoh"
        with urllib.request.urlopen(f"{base}/tl/", timeout=10) as r:
            assert "PT Contoh Tanda Tangan" in r.read().decode()
        with urllib.request.urlopen(f"{base}/repository", timeout=10) as r:
            page = r.read().decode()
        assert 'id="tl-xml"' in page and "PT Contoh Tanda Tangan" in page


def test_publish_without_a_signing_key_is_refused(tmp_path: Path):
    bare = PsreEnv(tmp_path)
    bare.run("init", "--no-demo")
    res = bare.run("trusted-list", "publish", check=False)
    assert res.returncode == 2
    assert "no trusted-list signing certificate" in res.stderr
    assert not (tmp_path / "var" / "public" / "tl" / "tl.xml").exists()
