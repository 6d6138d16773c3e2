"""The PSrE Induk's ceremonies (issue 21) as operators run them: the example files under
``ceremony_scripts/examples/`` dry-run as shipped and then run for real, in order, on a fresh
installation whose token is the one they name; the certificates are checked with openssl and
pkilint, the ARL with openssl, the transcripts with ``psre ceremony verify``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.cli_support import REPO, PsreEnv

EXAMPLES = REPO / "ceremony_scripts" / "examples"
FILES = sorted(p.name for p in EXAMPLES.glob("*.toml"))


@pytest.fixture(scope="module")
def induk(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    """A fresh installation with the token the examples name, and a copy of the examples."""
    e = PsreEnv(tmp_path_factory.mktemp("induk"), {"PSRE_HSM_TOKEN_LABEL": "psre-induk"})
    e.run("init", "--no-demo")
    shutil.copytree(EXAMPLES, e.root / "examples")
    return e


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def _pkilint(*paths: Path) -> str:
    """pkilint's PKIX linter on a certificate, or its issuer/subject pair check on two: what it
    reports at WARNING and above (nothing, for a good certificate)."""
    tool = "lint_pkix_cert" if len(paths) == 1 else "lint_pkix_signer_signee_cert_chain"
    res = subprocess.run(
        [str(REPO / ".venv" / "bin" / tool), "lint", "-s", "WARNING", *map(str, paths)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return res.stdout.strip() + res.stderr.strip() if res.returncode else res.stdout.strip()


def test_the_examples_are_the_induk_sequence():
    assert FILES == [
        "00-induk-root.toml",
        "01-certify-psre.toml",
        "02-cross-certify.toml",
        "03-revoke-psre.toml",
    ]


@pytest.mark.parametrize("name", FILES)
def test_example_dry_runs_as_shipped_then_runs(induk: PsreEnv, name: str):
    """Each file, byte for byte as shipped: a dry run that would not be refused, then the real
    run (the next file needs what this one made)."""
    path = induk.root / "examples" / name
    assert path.read_bytes() == (EXAMPLES / name).read_bytes()
    dry = induk.run("ceremony", "run", "--dry-run", str(path))
    assert "DRY RUN on a scratch token: nothing was written" in dry.stdout
    assert "REFUSED" not in dry.stdout
    assert not (induk.root / "examples" / "out" / name).exists()
    real = induk.run("ceremony", "run", str(path), "--yes")
    assert "complete" in real.stdout
    transcript = next(
        line.split(" ", 1)[1] for line in real.stdout.splitlines() if line.startswith("transcript ")
    )
    checked = induk.run("ceremony", "verify", transcript)
    assert "FAIL" not in checked.stdout, checked.stdout


def _out(induk: PsreEnv, name: str) -> Path:
    return induk.root / "examples" / "out" / name


def test_certified_psre_ca_carries_the_profiles_constraints(induk: PsreEnv):
    path = _out(induk, "psre-contoh-ca.pem")
    if not path.exists():
        pytest.fail("the certify-psre example did not run (see its own test)")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    csr = x509.load_pem_x509_csr((EXAMPLES / "psre-contoh-ca.csr.pem").read_bytes())
    assert cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert cert.subject == csr.subject
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    nc = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    (tree,) = nc.value.permitted_subtrees
    assert tree.value == x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "ID")])
    eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ExtendedKeyUsageOID.OCSP_SIGNING not in eku
    assert ExtendedKeyUsageOID.TIME_STAMPING in eku and ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    policies = {
        p.policy_identifier.dotted_string
        for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    }
    assert "1.3.6.1.5.5.7.13.2" in policies
    # Independent checks: openssl builds the path to the root; pkilint finds nothing to report.
    root = _out(induk, "root-ca-indonesia.pem")
    res = _openssl("verify", "-CAfile", str(root), str(path))
    assert res.returncode == 0 and ": OK" in res.stdout, res.stdout + res.stderr
    assert _pkilint(path) == ""
    assert _pkilint(root, path) == ""
    shown = json.loads(induk.run("audit", "show", "--action", "psre.recognize", "--json").stdout)
    (psre,) = [e for e in shown if e["object"] == "recognized:psre-contoh"]
    assert psre["details"]["service_url"] == "https://pki.contoh-ttd.co.id"


def test_cross_certificate_and_the_reverse_csr(induk: PsreEnv):
    cross_path = _out(induk, "cross-contoh-root-my.pem")
    if not cross_path.exists():
        pytest.fail("the cross-certify example did not run (see its own test)")
    cross = x509.load_pem_x509_certificate(cross_path.read_bytes())
    foreign = x509.load_pem_x509_certificate((EXAMPLES / "contoh-root-ca.pem").read_bytes())
    root = x509.load_pem_x509_certificate(_out(induk, "root-ca-indonesia.pem").read_bytes())
    assert cross.subject == foreign.subject and cross.issuer == root.subject
    assert cross.public_key() == foreign.public_key()
    cross.verify_directly_issued_by(root)
    assert cross.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    reverse = x509.load_pem_x509_csr(_out(induk, "root-ca-indonesia-for-my.csr.pem").read_bytes())
    assert reverse.is_signature_valid
    assert reverse.subject == root.subject and reverse.public_key() == root.public_key()
    # openssl: the foreign root's self-signed certificate's key, reached through the cross
    # certificate, validates up to Root CA Indonesia.
    res = _openssl("verify", "-CAfile", str(_out(induk, "root-ca-indonesia.pem")),
                   str(cross_path))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert _pkilint(cross_path) == ""


def test_revoked_psre_is_on_the_arl_with_its_reason(induk: PsreEnv):
    crl_path = _out(induk, "root-ca-indonesia-2.crl")
    if not crl_path.exists():
        pytest.fail("the revoke-psre example did not run (see its own test)")
    cert = x509.load_pem_x509_certificate(_out(induk, "psre-contoh-ca.pem").read_bytes())
    crl = x509.load_der_x509_crl(crl_path.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.cessation_of_operation
    text = _openssl("crl", "-inform", "DER", "-in", str(crl_path), "-noout", "-text").stdout
    assert "Cessation Of Operation" in text
    withdrawn = json.loads(induk.run("audit", "show", "--action", "psre.withdraw", "--json").stdout)
    assert withdrawn and withdrawn[0]["details"]["status"] == "withdrawn"
    # A second revocation is refused before anything is touched.
    revoke = induk.root / "examples" / "03-revoke-psre.toml"
    again = induk.run("ceremony", "run", "--dry-run", str(revoke), check=False)
    assert again.returncode != 0 and "already withdrawn" in again.stdout + again.stderr


def _variant(induk: PsreEnv, name: str, csr: bytes, subject_cn: str = "PSrE Contoh CA G1") -> Path:
    """01-certify-psre.toml for another recognized name, with ``csr`` as its input."""
    d = induk.root / name
    d.mkdir()
    (d / "in.csr.pem").write_bytes(csr)
    text = (EXAMPLES / "01-certify-psre.toml").read_text(encoding="utf-8")
    text = (
        text.replace('name = "induk-certify-psre-contoh"', f'name = "{name}"')
        .replace('ca = "psre-contoh"', f'ca = "{name}"')
        .replace('csr = "psre-contoh-ca.csr.pem"', 'csr = "in.csr.pem"')
        .replace('CN = "PSrE Contoh CA G1"', f'CN = "{subject_cn}"')
    )
    path = d / "certify.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csr_without_proof_of_possession_is_refused(induk: PsreEnv):
    """One bit of the CSR's signature changed: no proof that the PSrE holds the key."""
    good = x509.load_pem_x509_csr((EXAMPLES / "psre-contoh-ca.csr.pem").read_bytes())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    bad = x509.load_der_x509_csr(bytes(der))
    assert not bad.is_signature_valid
    path = _variant(induk, "psre-tampered", bad.public_bytes(serialization.Encoding.PEM))
    res = induk.run("ceremony", "run", str(path), "--yes", check=False)
    assert res.returncode != 0
    assert "invalid signature (no proof of possession)" in res.stdout + res.stderr
    assert not (path.parent / "out" / "psre-contoh-ca.pem").exists()


def test_a_csr_for_another_name_than_the_files_is_refused(induk: PsreEnv):
    csr = (EXAMPLES / "psre-contoh-ca.csr.pem").read_bytes()
    path = _variant(induk, "psre-other-name", csr, subject_cn="PSrE Lain CA G1")
    res = induk.run("ceremony", "run", str(path), "--yes", check=False)
    assert res.returncode != 0
    assert "is not the file's" in res.stdout + res.stderr
