"""pyHanko signs PDFs through the HSM backend; pyHanko's validator and poppler's pdfsig agree."""

from __future__ import annotations

import datetime as dt
import io
import subprocess

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from hsm import KeySpec
from hsm.keys import default_hash, private_key
from hsm.pdf_signer import HsmPdfSigner
from tests.pdf_support import minimal_pdf


def self_signed(backend, label: str) -> x509.Certificate:
    key = private_key(backend, label)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"PDF signer {label}"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(key, default_hash(key))
    )


@pytest.mark.parametrize("spec", [KeySpec.EC_P256, KeySpec.RSA_2048, KeySpec.EC_P384])
def test_hsm_signer_makes_valid_pdf_signatures(backend, spec, tmp_path):
    label = f"pdf-{spec.value}"
    backend.generate(label, spec)
    cert = self_signed(backend, label)
    signer = HsmPdfSigner(backend, label, cert)
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(minimal_pdf())),
        signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm=spec.default_hash),
        signer=signer,
        output=out,
    )
    signed = out.getvalue()

    root = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root]))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage.name == "ENTIRE_FILE"

    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    res = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in res.stdout, res.stdout + res.stderr

    # Tampering after signing breaks the signature for pdfsig too.
    tampered = bytearray(signed)
    i = signed.index(b"psre test document")
    tampered[i] = ord("P")
    path.write_bytes(bytes(tampered))
    res = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature is Valid." not in res.stdout
