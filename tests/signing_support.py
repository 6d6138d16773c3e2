"""A signing-ready PKI for the PDF engine tests: root, issuing CA, TSA unit, subscribers.

Module-scoped (one per test module and database) because making keys and certificates in
SoftHSM is the slow part; tests make their own subscribers when they change one's status.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from ca_core.config import Config
from ca_core.store import Store
from ca_core.store.models import Certificate
from crl.publish import publish_all
from ocsp.responses import presign_all
from psre.services import Services
from signing_api.pdf_sign import PdfEngine
from signing_api.runtime import pdf_engine
from tests.conftest import PG_URL_ENV, _backends, _pg_schema_url
from tests.pdf_support import minimal_pdf
from tests.pki_support import BASE_URL, Pki, add_tsa_unit, build_pki, enrol_signer


@dataclass
class SigningPki:
    pki: Pki
    rt: Services
    tsa: Certificate

    @property
    def store(self) -> Store:
        return self.pki.store

    @property
    def engine(self) -> PdfEngine:
        """What ``sign_pdf`` signs with in this installation's process."""
        return pdf_engine(self.rt)

    def root_asn1(self) -> asn1_x509.Certificate:
        der = self.pki.cert(self.pki.root).public_bytes(serialization.Encoding.DER)
        return asn1_x509.Certificate.load(der)

    def root_pem(self, path: Path) -> Path:
        path.write_bytes(self.pki.cert(self.pki.root).public_bytes(serialization.Encoding.PEM))
        return path

    def new_signer(self, name: str = "Siti Rahayu") -> Certificate:
        """A freshly enrolled subscriber with a natural-person certificate (key in the HSM)."""
        nik = "3174" + "".join(secrets.choice("0123456789") for _ in range(12))
        return enrol_signer(self.pki, name, nik)


def build_signing_pki(store: Store, backend, url: str) -> SigningPki:
    pki = build_pki(store, backend)
    tsa = add_tsa_unit(pki)
    rt = Services(Config(database_url=url, public_base_url=BASE_URL))
    rt.__dict__.update(store=store, backend=backend, issuer=pki.issuer, revoker=pki.revoker)
    # CRLs and pre-signed OCSP responses (B-LT's validation data), kept current afterwards by
    # the publishers on status events, as in `psre serve`.
    rt.attach_publishers()
    publish_all(rt.crl_publisher)
    presign_all(rt.presigner)
    return SigningPki(pki, rt, store.find_certificate(format(tsa.serial_number, "x")))


@pytest.fixture(scope="module", params=_backends())
def spki(request: pytest.FixtureRequest, backend, tmp_path_factory) -> Iterator[SigningPki]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('db')}/psre.sqlite3"])
    else:
        urls = _pg_schema_url(os.environ[PG_URL_ENV])
    url = next(urls)
    store = Store.open(url)
    try:
        yield build_signing_pki(store, backend, url)
    finally:
        store.close()
        next(urls, None)  # drops the PostgreSQL schema


# --- independent checks ----------------------------------------------------------------------


def pdfsig(tmp_path: Path, data: bytes, *args: str) -> str:
    path = tmp_path / f"check-{secrets.token_hex(3)}.pdf"
    path.write_bytes(data)
    res = subprocess.run(["pdfsig", *args, str(path)], capture_output=True, text=True, check=False)
    return res.stdout + res.stderr


def pyhanko_statuses(spki: SigningPki, data: bytes, password: str | None = None) -> list:
    """pyHanko's own validator over every signature, our root as the only trust anchor."""
    reader = PdfFileReader(io.BytesIO(data))
    if password:
        reader.decrypt(password)
    out = []
    for sig in reader.embedded_regular_signatures:
        vc = ValidationContext(trust_roots=[spki.root_asn1()], allow_fetching=False)
        out.append(validate_pdf_signature(sig, vc))
    return out


def big_pdf(size: int) -> bytes:
    """minimal_pdf plus one incompressible stream object of ``size`` bytes, kept in an update."""
    w = IncrementalPdfFileWriter(io.BytesIO(minimal_pdf()))
    ref = w.add_object(generic.StreamObject(stream_data=os.urandom(size)))
    w.root["/PsreBlob"] = ref
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()
