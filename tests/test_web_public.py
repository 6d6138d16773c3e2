"""Public pages through Flask's test client: verify a PDF (checked against poppler's pdfsig),
the CA repository (fingerprints checked with openssl), the status page, the language switch."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ca_core.store.models import PublishedCrl
from tests.pdf_support import minimal_pdf, with_changed_page
from tests.web_support import csrf, make_app, signed_pdf


@pytest.fixture
def app(pki, db_url):
    return make_app(pki, db_url)


def upload(client, data: bytes, name: str = "surat.pdf"):
    token = csrf(client.get("/verify").get_data(as_text=True))
    return client.post(
        "/verify",
        data={"csrf_token": token, "pdf": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def summary(html: str) -> str | None:
    m = re.search(r'data-summary="(\w+)"', html)
    return m.group(1) if m else None


def pdfsig(tmp_path, data: bytes) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    res = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    return res.stdout + res.stderr


def test_signed_pdf_is_valid_and_pdfsig_agrees(app, pki, tmp_path):
    s = signed_pdf(pki, name="Siti Rahayu")
    assert "Signature is Valid." in pdfsig(tmp_path, s.pdf)
    resp = upload(app.test_client(), s.pdf)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and summary(html) == "VALID"
    assert "Siti Rahayu" in html and "Kementerian Keuangan" in html and s.nik in html
    assert f"<code>{s.serial_hex}</code>" in html
    assert 'class="cert-status status-good"' in html
    assert "PAdES B-B" in html


def test_tampered_pdf_is_invalid_and_pdfsig_agrees(app, pki, tmp_path):
    s = signed_pdf(pki, text="Nilai 100")
    tampered = s.pdf.replace(b"Nilai 100", b"Nilai 900")
    assert tampered != s.pdf
    assert "Signature is Valid." not in pdfsig(tmp_path, tampered)
    html = upload(app.test_client(), tampered).get_data(as_text=True)
    assert summary(html) == "INVALID"
    assert "the signed bytes were changed" in html


def test_document_changed_after_signing_is_reported(app, pki, tmp_path):
    s = signed_pdf(pki)
    changed = with_changed_page(s.pdf, b"BT /F1 18 Tf 72 700 Td (LUNAS) Tj ET")
    # pdfsig: the signature itself verifies, but it no longer covers the whole file.
    report = pdfsig(tmp_path, changed)
    assert "Signature is Valid." in report and "Not total document signed" in report
    html = upload(app.test_client(), changed).get_data(as_text=True)
    assert summary(html) == "INVALID"
    assert re.search(r'class="modified">ya<', html)
    assert "changed after it was signed" in html


def test_revoked_signer_makes_the_document_invalid(app, pki):
    s = signed_pdf(pki)
    pki.revoker.revoke(s.serial_hex, "keyCompromise", actor="test")
    html = upload(app.test_client(), s.pdf).get_data(as_text=True)
    assert summary(html) == "INVALID"
    assert 'class="cert-status status-revoked"' in html


def test_foreign_signer_is_not_trusted(app, pki, backend):
    """Signed by a self-signed key we never certified: intact, but untrusted and unknown."""
    from pyhanko.sign import signers

    from hsm import KeySpec
    from hsm.pdf_signer import HsmPdfSigner
    from tests.test_pdf_signer import self_signed

    backend.generate("foreign-web", KeySpec.EC_P256)
    try:
        cert = self_signed(backend, "foreign-web")
        out = io.BytesIO()
        signers.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(minimal_pdf())),
            signers.PdfSignatureMetadata(field_name="Signature1"),
            signer=HsmPdfSigner(backend, "foreign-web", cert),
            output=out,
        )
    finally:
        backend.delete("foreign-web")
    html = upload(app.test_client(), out.getvalue()).get_data(as_text=True)
    assert summary(html) == "INVALID"
    assert "does not chain to this PSrE" in html and "status-unknown" in html


def test_unsigned_and_unreadable_files(app):
    client = app.test_client()
    html = upload(client, minimal_pdf()).get_data(as_text=True)
    assert summary(html) == "NO_SIGNATURE"
    resp = upload(client, b"this is not a pdf")
    assert resp.status_code == 422 and "bukan PDF" in resp.get_data(as_text=True)
    resp = upload(client, b"%PDF-1.7\n" + b"\x00garbage" * 50)
    assert resp.status_code == 422 and "tidak dapat diverifikasi" in resp.get_data(as_text=True)
    token = csrf(client.get("/verify").get_data(as_text=True))
    assert client.post("/verify", data={"csrf_token": token}).status_code == 400


def test_repository_fingerprints_match_openssl(app, pki, tmp_path):
    client = app.test_client()
    html = client.get("/repository").get_data(as_text=True)
    for name in (pki.root, pki.issuing):
        der = client.get(f"/ca/{name}.crt").data
        path = tmp_path / f"{name}.der"
        path.write_bytes(der)
        out = subprocess.run(
            [
                "openssl",
                "x509",
                "-inform",
                "DER",
                "-in",
                str(path),
                "-noout",
                "-fingerprint",
                "-sha256",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        fingerprint = out.strip().split("=", 1)[1]
        assert fingerprint in html
        assert f'href="/ca/{name}.pem"' in html and f'href="/crl/{name}.crl"' in html
    assert 'href="/cps"' in html
    assert "update-ca-certificates" in html


def test_status_page_shows_crl_freshness(app, pki):
    client = app.test_client()
    html = client.get("/status").get_data(as_text=True)
    assert "belum diterbitkan" in html  # no CRL published yet
    assert 'id="hsm-state">baik<' in html and 'id="db-state">baik<' in html
    # Once the CRL service has published, the newest complete CRL per CA shows with its age.
    ca_id = pki.store.get_ca(pki.issuing).id
    with pki.store.session() as s:
        for number, year in ((1, 2020), (2, 2099)):
            s.add(
                PublishedCrl(
                    issuer_id=ca_id,
                    kind="full",
                    partition=-1,
                    number=number,
                    this_update=dt.datetime(year, 1, 1, tzinfo=dt.UTC),
                    next_update=dt.datetime(year, 1, 2, tzinfo=dt.UTC),
                    entries=0,
                    der=b"-",
                    sha256="0" * 64,
                )
            )
    html = client.get("/status").get_data(as_text=True)
    assert f"<td>{pki.issuing}</td><td>2099-01-01 00:00</td>" in html
    assert "segar" in html


def test_language_switch_and_default(app):
    client = app.test_client()
    html = client.get("/verify").get_data(as_text=True)
    assert '<html lang="id">' in html and "Verifikasi dokumen PDF" in html
    resp = client.get("/lang/en?next=/repository")
    assert resp.status_code == 302 and resp.headers["Location"] == "/repository"
    html = client.get("/repository").get_data(as_text=True)
    assert '<html lang="en">' in html and "How to install" in html
    client.get("/lang/id?next=/verify")
    assert "Verifikasi dokumen PDF" in client.get("/verify").get_data(as_text=True)
    # Not an open redirect.
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        resp = client.get("/lang/en", query_string={"next": target})
        assert resp.headers["Location"] == "/"


def test_pages_load_nothing_from_other_sites(app):
    client = app.test_client()
    for url in ("/verify", "/repository", "/status", "/console/login"):
        resp = client.get(url)
        html = resp.get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', html), url
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    css = client.get("/assets/style.css")
    assert css.status_code == 200 and b"http" not in css.data
    assert client.get("/assets/app.js").status_code == 200
    # The CP/CPS page (inline <style>) is not put under the pages' policy.
    assert "Content-Security-Policy" not in client.get("/cps").headers
