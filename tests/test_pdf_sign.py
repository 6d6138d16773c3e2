"""The PAdES engine: every level and appearance accepted by poppler's pdfsig and by pyHanko's
validator (our root the only trust anchor); stamps, encryption, sequential signatures, bad input
and a 50 MB document."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from signing_api.pdf_sign import (
    LEVELS,
    InvalidPdfError,
    PdfSignError,
    SignOptions,
    Stamp,
    StampPlacementError,
    sign_pdf,
)
from signing_api.stamp import find_text
from tests.pdf_support import minimal_pdf
from tests.signing_support import (  # noqa: F401
    SigningPki,
    big_pdf,
    pdfsig,
    pyhanko_statuses,
    spki,
)


@pytest.fixture(scope="module")
def signer(spki: SigningPki):  # noqa: F811
    return spki.new_signer("Siti Rahayu")


def assert_pdfsig_ok(tmp_path: Path, data: bytes, count: int, *args: str) -> str:
    """pdfsig checks the CMS signature and its byte ranges.

    Not the chain here: these certificates point their OCSP URL at a public-looking host that
    does not resolve, and NSS then reports an "unknown issue". tests/test_nss_relying_party.py
    has pdfsig check the chain against a served psre; pyHanko checks it here.
    """
    report = pdfsig(tmp_path, data, "-nocert", *args)
    assert report.count("Signature is Valid.") == count, report
    return report


def assert_pyhanko_ok(spki: SigningPki, data: bytes, count: int, password: str | None = None):  # noqa: F811
    statuses = pyhanko_statuses(spki, data, password)
    assert len(statuses) == count
    for st in statuses:
        assert st.bottom_line, st.pretty_print_details()
    return statuses


def pages_pdf(n: int, text: str = "halaman") -> bytes:
    """An n-page PDF made by copying minimal_pdf's page (pyHanko writer)."""
    reader = PdfFileReader(io.BytesIO(minimal_pdf(text)))
    w = copy_into_new_writer(reader)
    page = w.root["/Pages"]["/Kids"][0].get_object()
    from pyhanko.pdf_utils import generic

    for i in range(1, n):
        content = w.add_object(
            generic.StreamObject(
                stream_data=f"BT /F1 18 Tf 72 500 Td ({text} {i + 1} #) Tj ET".encode()
            )
        )
        new = generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Page"),
                generic.pdf_name("/MediaBox"): page["/MediaBox"],
                generic.pdf_name("/Resources"): page["/Resources"],
                generic.pdf_name("/Contents"): content,
            }
        )
        w.insert_page(new)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_is_accepted_by_pdfsig_and_pyhanko(spki, signer, tmp_path, level):  # noqa: F811
    opts = SignOptions(level=level, reason="Menyetujui", location="Jakarta")
    signed = sign_pdf(spki.engine, minimal_pdf(), signer, opts)
    # B-LTA's document timestamp is a second signature pdfsig cannot check ("unknown" type).
    report = assert_pdfsig_ok(tmp_path, signed, 1)
    assert "ETSI.CAdES.detached" in report
    (st,) = assert_pyhanko_ok(spki, signed, 1)
    assert st.signing_cert.subject.native["common_name"] == "Siti Rahayu"
    has_ts = level != "B-B"
    assert (st.timestamp_validity is not None) == has_ts
    if has_ts:
        assert st.timestamp_validity.intact and st.timestamp_validity.valid
        assert st.timestamp_validity.trusted
    reader = PdfFileReader(io.BytesIO(signed))
    assert ("/DSS" in reader.root) == (level in ("B-LT", "B-LTA"))
    assert len(reader.embedded_timestamp_signatures) == (level == "B-LTA")
    sig = reader.embedded_regular_signatures[0]
    assert sig.sig_object["/Reason"] == "Menyetujui"
    assert sig.sig_object["/Location"] == "Jakarta"
    assert sig.sig_object["/Name"] == "Siti Rahayu"


def test_dss_carries_chains_ocsp_and_crls_of_signer_and_tsa(spki, signer):  # noqa: F811
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from asn1crypto import x509 as asn1_x509

    signed = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-LT"))
    reader = PdfFileReader(io.BytesIO(signed))
    assert reader.total_revisions == 2  # the DSS is in the signature's own revision
    dss = reader.root["/DSS"]
    certs = [asn1_x509.Certificate.load(r.get_object().data) for r in dss["/Certs"]]
    by_cn = {c.subject.native["common_name"]: c for c in certs}
    assert set(by_cn) >= {
        "Siti Rahayu",
        "PSrE Uji Issuing CA",
        "PSrE Uji Root CA",
        "PSrE Uji Time-Stamping Authority",
    }
    ocsp_serials = set()
    for ref in dss["/OCSPs"]:
        resp = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
        assert resp["response_status"].native == "successful"
        for single in resp.basic_ocsp_response["tbs_response_data"]["responses"]:
            assert single["cert_status"].name == "good"
            ocsp_serials.add(single["cert_id"]["serial_number"].native)
    # Every certificate but the root has its OCSP response ...
    for cn in ("Siti Rahayu", "PSrE Uji Issuing CA", "PSrE Uji Time-Stamping Authority"):
        assert by_cn[cn].serial_number in ocsp_serials, cn
    # ... and the CRL of its issuer: the issuing CA's CRL and the root's ARL.
    crl_issuers = {
        asn1_crl.CertificateList.load(r.get_object().data).issuer.native["common_name"]
        for r in dss["/CRLs"]
    }
    assert crl_issuers == {"PSrE Uji Issuing CA", "PSrE Uji Root CA"}


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_lt_levels_validate_offline_from_the_dss_alone(spki, signer, level):  # noqa: F811
    """pyHanko with revocation checking required and fetching off: the DSS is enough (LTV);
    the same check fails for B-T, which carries no validation data."""
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko_certvalidator import ValidationContext

    kw = {"trust_roots": [spki.root_asn1()], "allow_fetching": False, "revocation_mode": "require"}
    signed = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level=level))
    reader = PdfFileReader(io.BytesIO(signed))
    vc = DocumentSecurityStore.read_dss(reader).as_validation_context(kw)
    st = validate_pdf_signature(reader.embedded_regular_signatures[0], vc)
    assert st.bottom_line and st.timestamp_validity.trusted, st.pretty_print_details()

    bt = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-T"))
    sig = PdfFileReader(io.BytesIO(bt)).embedded_regular_signatures[0]
    no_data = ValidationContext(**kw, ocsps=[], crls=[])
    assert not validate_pdf_signature(sig, no_data).bottom_line


def test_visible_stamp_in_a_box_on_the_last_page(spki, signer, tmp_path):  # noqa: F811
    doc = pages_pdf(3)
    stamp = Stamp(page=-1, box=(300, 50, 540, 130))
    signed = sign_pdf(
        spki.engine, doc, signer, SignOptions(level="B-B", stamp=stamp, reason="Setuju")
    )
    assert_pdfsig_ok(tmp_path, signed, 1)
    assert_pyhanko_ok(spki, signed, 1)
    reader = PdfFileReader(io.BytesIO(signed))
    sig = reader.embedded_regular_signatures[0]
    widget = sig.sig_field["/Kids"][0] if "/Kids" in sig.sig_field else sig.sig_field
    last = reader.root["/Pages"]["/Kids"][2].get_object()
    assert widget["/P"].get_object() == last
    assert [round(float(v)) for v in widget["/Rect"]] == [300, 50, 540, 130]
    assert "/AP" in widget


def test_stamp_at_a_tag_with_a_qr_code(spki, signer, tmp_path):  # noqa: F811
    doc = minimal_pdf("Tanda tangan: # (kepala dinas)")
    tag_box = find_text(doc, 0, "#")
    assert tag_box is not None
    stamp = Stamp(tag="#", width=160, height=60, qr_url="https://psre.example.id/v/abc")
    signed = sign_pdf(spki.engine, doc, signer, SignOptions(level="B-T", stamp=stamp))
    assert_pdfsig_ok(tmp_path, signed, 1)
    assert_pyhanko_ok(spki, signed, 1)
    widget = PdfFileReader(io.BytesIO(signed)).embedded_regular_signatures[0].sig_field
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    cx, cy = (tag_box[0] + tag_box[2]) / 2, (tag_box[1] + tag_box[3]) / 2
    assert abs((x1 + x2) / 2 - cx) <= 1 and abs((y1 + y2) / 2 - cy) <= 1
    assert round(x2 - x1) == 160 and round(y2 - y1) == 60


def test_tag_on_a_later_page_is_found(spki, signer):  # noqa: F811
    doc = pages_pdf(2, text="isi")  # page 1 has no '#', page 2 has one
    signed = sign_pdf(spki.engine, doc, signer, SignOptions(level="B-B", stamp=Stamp(tag="#")))
    reader = PdfFileReader(io.BytesIO(signed))
    widget = reader.embedded_regular_signatures[0].sig_field
    assert widget["/P"].get_object() == reader.root["/Pages"]["/Kids"][1].get_object()


@pytest.mark.parametrize(
    "stamp",
    [
        Stamp(tag="@@"),  # not in the text
        Stamp(page=5, box=(10, 10, 100, 50)),  # out of range
        Stamp(page=0, box=(10, 10, 100, 50)),
        Stamp(page=1, box=(100, 10, 10, 50)),  # empty box
        Stamp(page=1),  # neither box nor tag
    ],
)
def test_unplaceable_stamps_are_refused(spki, signer, stamp):  # noqa: F811
    with pytest.raises(StampPlacementError) as err:
        sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-B", stamp=stamp))
    assert err.value.api_code == 4015


def test_specimen_image_stamp(spki, signer, tmp_path):  # noqa: F811
    img = Image.new("RGB", (200, 80), (20, 40, 160))
    png = io.BytesIO()
    img.save(png, format="PNG")
    stamp = Stamp(page=1, box=(72, 600, 272, 680), image=png.getvalue())
    signed = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-B", stamp=stamp))
    assert_pdfsig_ok(tmp_path, signed, 1)
    assert_pyhanko_ok(spki, signed, 1)
    assert b"/Subtype /Image" in signed
    with pytest.raises(PdfSignError):
        sign_pdf(
            spki.engine,
            minimal_pdf(),
            signer,
            SignOptions(level="B-B", stamp=Stamp(page=1, box=(1, 1, 50, 50), image=b"not png")),
        )


def test_sequential_signatures_keep_earlier_ones_valid(spki, signer, tmp_path):  # noqa: F811
    second = spki.new_signer("Budi Santoso")
    first = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-LT"))
    both = sign_pdf(
        spki.engine,
        first,
        second,
        SignOptions(level="B-T", stamp=Stamp(page=1, box=(300, 700, 500, 780))),
    )
    third = sign_pdf(spki.engine, both, signer, SignOptions(level="B-B"))
    assert third.startswith(first)  # incremental updates only
    assert_pdfsig_ok(tmp_path, third, 3)
    statuses = assert_pyhanko_ok(spki, third, 3)
    names = [
        PdfFileReader(io.BytesIO(third)).embedded_regular_signatures[i].field_name for i in range(3)
    ]
    assert names == ["Signature1", "Signature2", "Signature3"]
    assert statuses[0].modification_level.name in ("LTA_UPDATES", "FORM_FILLING")


def test_named_field_and_a_taken_name(spki, signer):  # noqa: F811
    signed = sign_pdf(
        spki.engine, minimal_pdf(), signer, SignOptions(level="B-B", field_name="Kadis")
    )
    assert PdfFileReader(io.BytesIO(signed)).embedded_regular_signatures[0].field_name == "Kadis"
    with pytest.raises(PdfSignError):
        sign_pdf(spki.engine, signed, signer, SignOptions(level="B-B", field_name="Kadis"))


def encrypted_pdf(user: str, owner: str) -> bytes:
    w = copy_into_new_writer(PdfFileReader(io.BytesIO(minimal_pdf("rahasia #"))))
    w.encrypt(owner, user)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_encrypted_pdf_needs_the_password(spki, signer, tmp_path):  # noqa: F811
    doc = encrypted_pdf("buka", "pemilik")
    for pw in (None, "salah"):
        with pytest.raises(InvalidPdfError):
            sign_pdf(spki.engine, doc, signer, SignOptions(level="B-B", pdf_password=pw))
    signed = sign_pdf(
        spki.engine,
        doc,
        signer,
        SignOptions(level="B-LT", pdf_password="buka", stamp=Stamp(tag="#")),
    )
    assert PdfFileReader(io.BytesIO(signed)).encrypted
    assert_pyhanko_ok(spki, signed, 1, password="buka")
    assert_pdfsig_ok(tmp_path, signed, 1, "-upw", "buka")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a not a pdf",
        b"%PDF-1.7\n garbage without objects or trailer\n",
        minimal_pdf()[:300],  # truncated
        minimal_pdf().replace(b"/Pages 2 0 R", b"/Pages 9 0 R"),  # dangling page tree
    ],
)
def test_corrupt_or_non_pdf_is_invalid_pdf(spki, signer, data):  # noqa: F811
    with pytest.raises(InvalidPdfError) as err:
        sign_pdf(spki.engine, data, signer, SignOptions(level="B-B"))
    assert err.value.api_code == 4015


def test_unknown_level_is_refused(spki, signer):  # noqa: F811
    with pytest.raises(PdfSignError):
        sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-XL"))


def test_fifty_megabytes_sign_in_bounded_memory(spki, signer, tmp_path):  # noqa: F811
    doc = big_pdf(50 * 1024 * 1024)
    tracemalloc.start()
    try:
        signed = sign_pdf(spki.engine, doc, signer, SignOptions(level="B-LT"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The output is one copy of the input plus the update; the digest is computed in chunks.
    assert peak < 4 * len(doc), f"peak {peak / 2**20:.0f} MiB for a {len(doc) / 2**20:.0f} MiB PDF"
    assert len(signed) > len(doc)
    assert_pdfsig_ok(tmp_path, signed, 1)


def test_concurrent_signatures_share_one_signer(spki, signer):  # noqa: F811
    """The API signs from several threads: one cached signer, every output valid."""
    from concurrent.futures import ThreadPoolExecutor

    assert spki.rt.signers.signer(signer) is spki.rt.signers.signer(signer)
    with ThreadPoolExecutor(4) as pool:
        outs = list(
            pool.map(
                lambda i: sign_pdf(
                    spki.engine, minimal_pdf(f"dokumen {i}"), signer, SignOptions(level="B-LT")
                ),
                range(8),
            )
        )
    for out in outs:
        assert_pyhanko_ok(spki, out, 1)


def test_stamp_text_outside_latin1_is_replaced_not_garbled(spki, signer):  # noqa: F811
    """The standard stamp font has Latin-1 glyphs only; /Reason keeps the full text."""
    from signing_api.stamp import stamp_text

    text = stamp_text("Ni Luh Ayu Dewi", "Disetujui — 100% ✓", "Denpasar, Bali")
    assert "Alasan: Disetujui ? 100%% ?" in text and "Ni Luh Ayu Dewi" in text
    reason = "Disetujui — 100% ✓"
    opts = SignOptions(level="B-B", reason=reason, stamp=Stamp(page=1, box=(50, 600, 300, 700)))
    signed = sign_pdf(spki.engine, minimal_pdf(), signer, opts)
    sig = PdfFileReader(io.BytesIO(signed)).embedded_regular_signatures[0]
    assert sig.sig_object["/Reason"] == reason


def test_certificate_without_hsm_key_is_refused(spki, signer):  # noqa: F811
    from ca_core.store.models import Certificate
    from signing_api.signers import NoKeyError

    cols = {c.name: getattr(signer, c.name) for c in Certificate.__table__.columns}
    keyless = Certificate(**{**cols, "key_label": None, "fingerprint_sha256": "0" * 64})
    with pytest.raises(NoKeyError) as err:
        sign_pdf(spki.engine, minimal_pdf(), keyless, SignOptions(level="B-B"))
    assert isinstance(err.value, PdfSignError)


def test_signer_cache_is_bounded(spki, signer):  # noqa: F811
    from signing_api import signers

    other = spki.new_signer("Yohanes Kurniawan")
    cache = signers.SignerCache(spki.store, spki.rt.backend, size=1)
    first = cache.signer(signer)
    assert cache.signer(signer) is first  # cached
    assert cache.signer(other) is not first
    assert cache.signer(signer) is not first  # evicted, built again
    sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-B"))
