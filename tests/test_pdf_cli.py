"""``psre pdf sign`` / ``psre pdf verify`` as real processes on a fresh ``psre init`` (its demo
ceremonies make the TSA unit): pdfsig and pyHanko check the output, a changed copy exits 1."""

from __future__ import annotations

import io
import json
import re
import secrets
import subprocess

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.cli_support import PsreEnv
from tests.pdf_support import minimal_pdf

BASE_URL = "http://pki.psre-uji.id"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    e = PsreEnv(tmp_path_factory.mktemp("psre-pdf"), {"PSRE_PUBLIC_BASE_URL": BASE_URL})
    e.run("init")
    return e


@pytest.fixture(scope="module")
def nik(env: PsreEnv) -> str:
    """A subscriber with status ISSUE and a natural-person certificate."""
    nik = "3273" + "".join(secrets.choice("0123456789") for _ in range(12))
    env.run(
        "subscriber", "add", "--nik", nik, "--name", "Hendra Gunawan",
        "--email", f"hendra.{nik[-4:]}@bandung.go.id", "--agency", "Pemerintah Kota Bandung",
    )  # fmt: skip
    out = env.root / f"{nik}.pem"
    env.run("issue", "--profile", "natural-person", "--subscriber", nik, "--out", str(out))
    return nik


def test_sign_then_verify(env: PsreEnv, nik: str):
    doc = env.root / "surat.pdf"
    doc.write_bytes(minimal_pdf("Surat Keputusan #"))
    signed = env.root / "surat-signed.pdf"
    res = env.run(
        "pdf", "sign", str(doc), "--subscriber", nik, "--out", str(signed),
        "--reason", "Menetapkan", "--tag", "#", "--qr-url", "https://psre.example.id/v/1",
    )  # fmt: skip
    assert "PAdES B-LT" in res.stdout  # the default level, with OCSP and CRLs of `psre init`

    res = env.run("pdf", "verify", str(signed), "--json")
    report = json.loads(res.stdout)
    assert report["summary"] == "VALID"
    (sig,) = report["signatures"]
    assert sig["signer_name"] == "Hendra Gunawan" and sig["nik"] == nik
    assert sig["level"] == "B-LT" and sig["ltv"] and sig["reason"] == "Menetapkan"

    text = env.run("pdf", "verify", str(signed)).stdout
    assert text.startswith("VALID: 1 signature(s)")
    audit = env.run("audit", "show").stdout
    assert "pdf.signed" in audit
    # The object names the certificate with its CA, as every other writer does (serials are
    # unique per issuer only; other processes match these strings).
    (signed_line,) = [line for line in audit.splitlines() if "pdf.signed" in line]
    assert re.search(r"certificate:[A-Za-z0-9._-]+:[0-9a-f]+", signed_line), signed_line
    env.run("audit", "verify")

    # Independent checks: poppler and pyHanko with the exported root as the only anchor.
    pdfsig = subprocess.run(
        ["pdfsig", "-nocert", str(signed)], capture_output=True, text=True, check=False
    )
    assert "Signature is Valid." in pdfsig.stdout
    root = env.root / "root.pem"
    env.run("ca", "export", "root-ca", "--out", str(root), "--der")
    anchor = asn1_x509.Certificate.load(root.read_bytes())
    emb = PdfFileReader(io.BytesIO(signed.read_bytes())).embedded_regular_signatures[0]
    status = validate_pdf_signature(emb, ValidationContext(trust_roots=[anchor]))
    assert status.bottom_line and status.timestamp_validity.trusted


def test_changed_copy_exits_1(env: PsreEnv, nik: str):
    doc = env.root / "nilai.pdf"
    doc.write_bytes(minimal_pdf("Nilai 70"))
    signed = env.root / "nilai-signed.pdf"
    env.run("pdf", "sign", str(doc), "--subscriber", nik, "--out", str(signed), "--level", "B-B")
    changed = env.root / "nilai-changed.pdf"
    changed.write_bytes(signed.read_bytes().replace(b"Nilai 70", b"Nilai 90"))
    res = env.run("pdf", "verify", str(changed), check=False)
    assert res.returncode == 1 and res.stdout.startswith("INVALID")
    assert "the signed bytes were changed" in res.stdout


def test_refusals(env: PsreEnv, nik: str):
    doc = env.root / "x.pdf"
    doc.write_bytes(minimal_pdf())
    res = env.run(
        "pdf", "sign", str(doc), "--subscriber", "3273000000000000", "--out",
        str(env.root / "x-signed.pdf"), check=False,
    )  # fmt: skip
    assert res.returncode == 2 and "psre: error:" in res.stderr
    assert not (env.root / "x-signed.pdf").exists()
    junk = env.root / "junk.pdf"
    junk.write_bytes(b"this is not a PDF")
    res = env.run(
        "pdf", "sign", str(junk), "--subscriber", nik, "--out", str(env.root / "j.pdf"), check=False
    )
    assert res.returncode == 2 and "not a PDF" in res.stderr
    res = env.run("pdf", "verify", str(junk), check=False)
    assert res.returncode == 2


def test_agency_seal(env: PsreEnv):
    """An agency (organizationIdentifier, legal-person-seal certificate) seals a PDF."""
    org = "NTRID-" + "".join(secrets.choice("0123456789") for _ in range(7))
    env.run(
        "subscriber", "add", "--org-id", org, "--name", "Dinas Kominfo Kota Bandung",
        "--email", f"kominfo.{org[-4:]}@bandung.go.id",
    )  # fmt: skip
    env.run(
        "issue", "--profile", "legal-person-seal", "--subscriber", org,
        "--out", str(env.root / f"{org}.pem"),
    )  # fmt: skip
    doc = env.root / "edaran.pdf"
    doc.write_bytes(minimal_pdf("Surat Edaran"))
    sealed = env.root / "edaran-sealed.pdf"
    env.run("pdf", "sign", str(doc), "--subscriber", org, "--out", str(sealed), "--level", "B-T")
    report = json.loads(env.run("pdf", "verify", str(sealed), "--json").stdout)
    assert report["summary"] == "VALID"
    assert report["signatures"][0]["signer_name"] == "Dinas Kominfo Kota Bandung"
