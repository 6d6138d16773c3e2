"""verify_pdf on what the engine signs, and on the attacks the checklist names: incremental
saving (content and annotations added after signing), signature wrapping (a ByteRange that
leaves bytes out, validly signed), universal forgery (zeroed /Contents, no /ByteRange)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import time

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing_api.pdf_sign import LEVELS, SignOptions, Stamp, sign_pdf
from signing_api.verify import NotAPdfError
from tests.pdf_support import minimal_pdf, with_changed_page
from tests.signing_support import SigningPki, pdfsig, pyhanko_statuses, spki  # noqa: F401
from tests.verify_support import verify_with_store


@pytest.fixture(scope="module")
def signer(spki: SigningPki):  # noqa: F811
    return spki.new_signer("Rina Wulandari")


@pytest.mark.parametrize("level", LEVELS)
def test_our_signatures_verify_with_their_level(spki, signer, level):  # noqa: F811
    opts = SignOptions(level=level, reason="Mengetahui", location="Bandung")
    report = verify_with_store(spki.rt, sign_pdf(spki.engine, minimal_pdf(), signer, opts))
    assert report.summary == "VALID", report
    (r,) = report.signatures
    assert r.valid and r.intact and r.trusted and not r.modified_after_signing, r.problems
    assert r.level == level
    assert r.signer_name == "Rina Wulandari" and r.certificate_status == "good"
    assert r.reason == "Mengetahui" and r.location == "Bandung"
    assert r.status_at_signing == "good"
    assert r.signer_dn.startswith("CN=Rina Wulandari,") and r.issuer_dn.startswith("CN=PSrE Uji")
    assert r.signature_algorithm == "sha256_ecdsa" and len(r.document_digest) == 64
    assert "digital_signature" in r.key_usages
    assert report.document_timestamps == (1 if level == "B-LTA" else 0)
    if level != "B-B":
        assert r.timestamp_trusted and r.tsa_name == "PSrE Uji Time-Stamping Authority"
    assert r.ltv == (level in ("B-LT", "B-LTA"))


def test_sequential_signatures_all_valid(spki, signer):  # noqa: F811
    other = spki.new_signer("Agus Salim")
    doc = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-LT"))
    doc = sign_pdf(
        spki.engine,
        doc,
        other,
        SignOptions(level="B-T", stamp=Stamp(page=1, box=(50, 50, 200, 110))),
    )
    doc = sign_pdf(spki.engine, doc, signer, SignOptions(level="B-LTA"))
    report = verify_with_store(spki.rt, doc)
    assert report.summary == "VALID", [r.problems for r in report.signatures]
    assert [r.signer_name for r in report.signatures] == [
        "Rina Wulandari",
        "Agus Salim",
        "Rina Wulandari",
    ]
    assert not any(r.modified_after_signing for r in report.signatures)


def test_content_changed_in_an_incremental_update(spki, signer, tmp_path):  # noqa: F811
    signed = sign_pdf(spki.engine, minimal_pdf("Jumlah: 100"), signer, SignOptions(level="B-LT"))
    changed = with_changed_page(signed, b"BT /F1 18 Tf 72 760 Td (Jumlah: 900) Tj ET")
    report = verify_with_store(spki.rt, changed)
    (r,) = report.signatures
    assert report.summary == "INVALID" and r.modified_after_signing and r.intact
    assert "changed after it was signed" in " ".join(r.problems)
    assert "Not total document signed" in pdfsig(tmp_path, changed, "-nocert")


def test_annotation_added_after_signing(spki, signer):  # noqa: F811
    signed = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-B"))
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0]
    annot = w.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/FreeText"),
                generic.pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (72, 740, 400, 780)]
                ),
                generic.pdf_name("/Contents"): generic.TextStringObject("DIBATALKAN"),
                generic.pdf_name("/DA"): generic.TextStringObject("/Helv 24 Tf 1 0 0 rg"),
            }
        )
    )
    page["/Annots"] = generic.ArrayObject([annot])
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    report = verify_with_store(spki.rt, out.getvalue())
    assert report.summary == "INVALID" and report.signatures[0].modified_after_signing


def _byte_range(data: bytes) -> tuple[re.Match[bytes], list[int]]:
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    assert m
    return m, [int(g) for g in m.groups()]


def test_signature_wrapping_partial_byte_range(spki, signer):  # noqa: F811
    """A validly signed CMS over a ByteRange that leaves the last bytes of the revision out:
    whatever is put there later is not covered. Must be reported, never valid."""
    signed = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-B"))
    m, (_, a, b, length) = _byte_range(signed)
    new_len = length - 40  # leave the trailer's tail uncovered
    text = f"/ByteRange [0 {a} {b} {new_len}]".encode()
    text = text + b" " * (m.end() - m.start() - len(text))
    data = bytearray(signed[: m.start()] + text + signed[m.end() :])
    digest = hashlib.sha256(bytes(data[:a]) + bytes(data[b : b + new_len])).digest()
    hsm_signer = spki.rt.signers.signer(signer)
    cms = asyncio.run(hsm_signer.async_sign(digest, "sha256", use_pades=True))
    hexsig = cms.dump().hex().encode()
    hole = b - a - 2  # inside the < >
    assert len(hexsig) <= hole
    data[a + 1 : b - 1] = hexsig + b"0" * (hole - len(hexsig))
    forged = bytes(data)
    report = verify_with_store(spki.rt, forged)
    (r,) = report.signatures
    assert report.summary == "INVALID", r
    assert r.intact  # the signature itself is fine: only its coverage is not
    assert r.modified_after_signing and r.coverage not in ("ENTIRE_FILE", "ENTIRE_REVISION")


def test_zeroed_contents_and_missing_byte_range(spki, signer):  # noqa: F811
    signed = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-B"))
    _, (_, a, b, _) = _byte_range(signed)
    zeroed = signed[: a + 1] + b"0" * (b - a - 2) + signed[b - 1 :]
    report = verify_with_store(spki.rt, zeroed)
    assert report.summary == "INVALID" and not report.signatures[0].valid
    no_range = signed.replace(b"/ByteRange", b"/ByteRangX", 1)
    report = verify_with_store(spki.rt, no_range)
    assert report.summary != "VALID"


def test_revoked_after_the_timestamp_stays_valid(spki):  # noqa: F811
    cert = spki.new_signer("Dewi Lestari")
    with_ts = sign_pdf(spki.engine, minimal_pdf(), cert, SignOptions(level="B-T"))
    without = sign_pdf(spki.engine, minimal_pdf(), cert, SignOptions(level="B-B"))
    time.sleep(1.1)  # revocation times have whole seconds; same second counts as revoked
    spki.pki.revoker.revoke(cert.serial_hex, "superseded", actor="test")
    r = verify_with_store(spki.rt, with_ts).signatures[0]
    assert r.valid and r.certificate_status == "revoked" and r.status_at_signing == "good"
    r = verify_with_store(spki.rt, without).signatures[0]
    assert not r.valid and r.status_at_signing == "revoked"


def test_encrypted_document_verifies_with_its_password(spki, signer):  # noqa: F811
    from tests.test_pdf_sign import encrypted_pdf

    doc = encrypted_pdf("buka", "pemilik")
    signed = sign_pdf(spki.engine, doc, signer, SignOptions(level="B-T", pdf_password="buka"))
    for wrong in (None, "salah"):
        with pytest.raises(NotAPdfError):
            verify_with_store(spki.rt, signed, wrong)
    assert verify_with_store(spki.rt, signed, "buka").summary == "VALID"


def test_pyhanko_agrees_on_what_we_call_valid(spki, signer):  # noqa: F811
    signed = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-LTA"))
    assert verify_with_store(spki.rt, signed).summary == "VALID"
    assert all(st.bottom_line for st in pyhanko_statuses(spki, signed))


def test_unsigned_and_not_a_pdf(spki):  # noqa: F811
    assert verify_with_store(spki.rt, minimal_pdf()).summary == "NO_SIGNATURE"
    with pytest.raises(NotAPdfError):
        verify_with_store(spki.rt, b"no pdf here")


def test_certified_document_no_changes_allowed(spki, signer):  # noqa: F811
    """A certification signature with DocMDP level 1: we refuse to add a signature, and a
    signature added by other means makes the document invalid (2021 certification attacks)."""
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import MDPPerm

    from signing_api.pdf_sign import PdfSignError

    hsm_signer = spki.rt.signers.signer(signer)
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(minimal_pdf())),
        signers.PdfSignatureMetadata(
            field_name="Sertifikasi",
            certify=True,
            docmdp_permissions=MDPPerm.NO_CHANGES,
            subfilter=fields.SigSeedSubFilter.PADES,
        ),
        signer=hsm_signer,
        output=out,
    )
    certified = out.getvalue()
    assert verify_with_store(spki.rt, certified).summary == "VALID"
    with pytest.raises(PdfSignError):
        sign_pdf(spki.engine, certified, signer, SignOptions(level="B-B"))
    # A form field filled in afterwards (allowed for approval signatures, not under level 1).
    w = IncrementalPdfFileWriter(io.BytesIO(certified))
    fields.append_signature_field(w, fields.SigFieldSpec("Kosong", box=(10, 10, 60, 30)))
    out = io.BytesIO()
    w.write(out)
    report = verify_with_store(spki.rt, out.getvalue())
    assert report.summary == "INVALID"
    (r,) = report.signatures
    assert r.modified_after_signing and not r.valid
