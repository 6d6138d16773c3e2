"""``psre pdf sign`` / ``psre pdf verify`` as real processes on a fresh ``psre init`` (its demo
ceremonies make the TSA unit): pdfsig and pyHanko check the output, a changed copy exits 1.
Signing needs the signer's own passphrase, which they set on the served page (sole control)."""

from __future__ import annotations

import getpass
import io
import json
import re
import secrets
import subprocess
from collections.abc import Iterator

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.cli_support import PsreEnv, choose_passphrase, serving
from tests.pdf_support import minimal_pdf

BASE_URL = "http://pki.psre-uji.id"


PASSPHRASE = "hanya-hendra-yang-tahu"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    e = PsreEnv(tmp_path_factory.mktemp("psre-pdf"), {"PSRE_PUBLIC_BASE_URL": BASE_URL})
    e.run("init")
    (e.root / "passphrase.txt").write_text(PASSPHRASE + "\n")
    return e


@pytest.fixture(scope="module")
def page(env: PsreEnv) -> Iterator[str]:
    """``psre serve`` for the subscribers' own passphrase page."""
    with serving(env) as url:
        yield url


def enrol(
    env: PsreEnv, page: str, key_args: list[str], name: str, email: str, profile: str
) -> None:
    """Enrol through the CLI, issue, and let the subscriber choose PASSPHRASE on the page."""
    env.run("subscriber", "add", *key_args, "--name", name, "--email", email)
    key = key_args[1]
    out = env.root / f"{key}.pem"
    env.run("issue", "--profile", profile, "--subscriber", key, "--out", str(out))
    choose_passphrase(env, page, email, PASSPHRASE)


@pytest.fixture(scope="module")
def nik(env: PsreEnv, page: str) -> str:
    """A subscriber with status ISSUE, a natural-person certificate and their own passphrase."""
    nik = "3273" + "".join(secrets.choice("0123456789") for _ in range(12))
    args = ["--nik", nik, "--agency", "Pemerintah Kota Bandung"]
    enrol(env, page, args, "Hendra Gunawan", f"hendra.{nik[-4:]}@bandung.go.id", "natural-person")
    return nik


def sign(env: PsreEnv, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``psre pdf sign`` activated with the signer's passphrase file."""
    return env.run(
        "pdf", "sign", *args, "--passphrase-file", str(env.root / "passphrase.txt"), check=check
    )


def test_sign_then_verify(env: PsreEnv, nik: str):
    doc = env.root / "surat.pdf"
    doc.write_bytes(minimal_pdf("Surat Keputusan #"))
    signed = env.root / "surat-signed.pdf"
    res = sign(
        env, str(doc), "--subscriber", nik, "--out", str(signed),
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
    sign(env, str(doc), "--subscriber", nik, "--out", str(signed), "--level", "B-B")
    changed = env.root / "nilai-changed.pdf"
    changed.write_bytes(signed.read_bytes().replace(b"Nilai 70", b"Nilai 90"))
    res = env.run("pdf", "verify", str(changed), check=False)
    assert res.returncode == 1 and res.stdout.startswith("INVALID")
    assert "the signed bytes were changed" in res.stdout


def test_refusals(env: PsreEnv, nik: str):
    doc = env.root / "x.pdf"
    doc.write_bytes(minimal_pdf())
    res = sign(
        env, str(doc), "--subscriber", "3273000000000000", "--out",
        str(env.root / "x-signed.pdf"), check=False,
    )  # fmt: skip
    assert res.returncode == 2 and "psre: error:" in res.stderr
    assert not (env.root / "x-signed.pdf").exists()
    junk = env.root / "junk.pdf"
    junk.write_bytes(b"this is not a PDF")
    res = sign(env, str(junk), "--subscriber", nik, "--out", str(env.root / "j.pdf"), check=False)
    assert res.returncode == 2 and "not a PDF" in res.stderr
    res = env.run("pdf", "verify", str(junk), check=False)
    assert res.returncode == 2


def test_agency_seal(env: PsreEnv, page: str):
    """An agency (organizationIdentifier, legal-person-seal certificate) seals a PDF, under the
    agency's own activation: the operator-run path exists, but only with it."""
    org = "NTRID-" + "".join(secrets.choice("0123456789") for _ in range(7))
    email = f"kominfo.{org[-4:]}@bandung.go.id"
    enrol(env, page, ["--org-id", org], "Dinas Kominfo Kota Bandung", email, "legal-person-seal")
    doc = env.root / "edaran.pdf"
    doc.write_bytes(minimal_pdf("Surat Edaran"))
    sealed = env.root / "edaran-sealed.pdf"
    bare = env.run("pdf", "sign", str(doc), "--subscriber", org, "--out", str(sealed), check=False)
    assert bare.returncode == 2 and not sealed.exists()
    sign(env, str(doc), "--subscriber", org, "--out", str(sealed), "--level", "B-T")
    report = json.loads(env.run("pdf", "verify", str(sealed), "--json").stdout)
    assert report["summary"] == "VALID"
    assert report["signatures"][0]["signer_name"] == "Dinas Kominfo Kota Bandung"


def test_signing_for_someone_needs_their_own_passphrase(env: PsreEnv, nik: str):
    """Whoever runs the CLI cannot sign for a subscriber without the subscriber's activation."""
    doc = env.root / "kuasa.pdf"
    doc.write_bytes(minimal_pdf("Surat Kuasa"))
    out = env.root / "kuasa-signed.pdf"
    base = ["pdf", "sign", str(doc), "--subscriber", nik, "--out", str(out), "--level", "B-B"]
    # No passphrase (nothing typed at the prompt): refused, nothing written.
    res = env.run(*base, check=False, input="\n")
    assert res.returncode == 2 and "passphrase is required" in res.stderr and not out.exists()
    # A wrong one: refused and counted (the CLI is a lockout channel of its own).
    wrong = env.root / "wrong.txt"
    wrong.write_text("tebakan-operator\n")
    res = env.run(*base, "--passphrase-file", str(wrong), check=False)
    assert res.returncode == 2 and "wrong passphrase" in res.stderr and not out.exists()
    assert "tebakan-operator" not in res.stderr
    failed = json.loads(
        env.run("audit", "show", "--action", "sign.activation_failed", "--json").stdout
    )
    assert failed[0]["object"] == f"subscriber:{nik}"
    assert failed[0]["actor"] == f"os:{getpass.getuser()}"
    # The signer types it at the prompt: signed, and the success clears the count.
    res = env.run(*base, input=PASSPHRASE + "\n")
    assert "PAdES B-B" in res.stdout and out.exists()
    signed = json.loads(env.run("audit", "show", "--action", "pdf.signed", "--json").stdout)
    assert signed[0]["details"]["activation"] == "passphrase"
    shown = json.loads(env.run("subscriber", "show", nik, "--json").stdout)
    assert shown["has_passphrase"] is True


def test_reset_stops_the_old_passphrase_and_sends_a_new_code(env: PsreEnv, nik: str, page: str):
    doc = env.root / "reset.pdf"
    doc.write_bytes(minimal_pdf("Nota Dinas"))
    out = env.root / "reset-signed.pdf"
    res = env.run("subscriber", "reset", nik)
    assert res.stdout.startswith(f"activation reset; new code sent to hendra.{nik[-4:]}@")
    refused = sign(env, str(doc), "--subscriber", nik, "--out", str(out), check=False)
    assert refused.returncode == 2 and not out.exists()
    assert (
        json.loads(env.run("subscriber", "show", nik, "--json").stdout)["has_passphrase"] is False
    )
    # The subscriber chooses again (the same one, for the other tests of this module).
    choose_passphrase(env, page, f"hendra.{nik[-4:]}@bandung.go.id", PASSPHRASE)
    sign(env, str(doc), "--subscriber", nik, "--out", str(out), "--level", "B-B")
    events = json.loads(
        env.run("audit", "show", "--action", "subscriber.reset_activation", "--json").stdout
    )
    assert events[0]["object"] == f"subscriber:{nik}" and "os:" in events[0]["actor"]
