"""The Flask app over the test PKI, a signed-in test client, and signed PDFs for the web tests."""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass

from cryptography import x509
from flask import Flask
from flask.testing import FlaskClient
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from ca_core.config import Config, ServerConfig
from hsm.pdf_signer import HsmPdfSigner
from psre.app import create_app
from tests.pdf_support import minimal_pdf
from tests.pki_support import BASE_URL, Pki, enrol_signer
from web.operators import add_operator

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


def make_app(pki: Pki, db_url: str, base_url: str = BASE_URL, trusted_proxies: int = 0) -> Flask:
    """The real app, its Runtime wired to the test PKI's store and token."""
    cfg = Config(
        database_url=db_url,
        public_base_url=base_url,
        server=ServerConfig(trusted_proxies=trusted_proxies),
    )
    app = create_app(cfg)
    app.config["TESTING"] = True
    rt = app.extensions["psre"]
    rt.__dict__.update(store=pki.store, backend=pki.backend, issuer=pki.issuer, revoker=pki.revoker)
    return app


def csrf(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD):
    page = client.get("/console/login").get_data(as_text=True)
    return client.post(
        "/console/login", data={"name": name, "password": password, "csrf_token": csrf(page)}
    )


def operator(pki: Pki, role: str) -> str:
    name = f"{role}-{secrets.token_hex(3)}"
    add_operator(pki.store, name, role, PASSWORD, actor="test")
    return name


def post_form(client: FlaskClient, page_url: str, url: str, data: dict[str, str]):
    """POST ``data`` with the CSRF token of ``page_url``, as a browser submitting its form."""
    token = csrf(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def set_passphrase_on_page(client: FlaskClient, code: str, passphrase: str, repeat: str = ""):
    """The subscriber sets their own passphrase on the public page with their enrolment code."""
    form = {"code": code, "passphrase": passphrase, "repeat": repeat or passphrase}
    return post_form(client, "/passphrase", "/passphrase", form)


@dataclass
class Signed:
    pdf: bytes
    serial_hex: str
    nik: str


def new_nik() -> str:
    return "3174" + "".join(secrets.choice("0123456789") for _ in range(12))


def signed_pdf(pki: Pki, name: str = "Siti Rahayu", text: str = "Surat Edaran") -> Signed:
    """A PDF signed in the HSM with a freshly issued natural-person certificate."""
    nik = new_nik()
    stored = enrol_signer(pki, name, nik)
    certificate = x509.load_der_x509_certificate(stored.der)
    chain = [pki.cert(pki.issuing), pki.cert(pki.root)]
    signer = HsmPdfSigner(pki.backend, stored.key_label or "", certificate, chain)
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(minimal_pdf(text))),
        signers.PdfSignatureMetadata(field_name="Signature1"),
        signer=signer,
        output=out,
    )
    return Signed(out.getvalue(), stored.serial_hex, nik)
