"""Verification judges every certificate on the signer's and the TSA's paths at the time that
counts (issue 15, item 3): the issuing CA or the TSA revoked after signing, through the lowest
level revocation code (Revoker.revoke), on real signatures.

Each verdict is cross-checked with pyHanko's own validator, given only our root as trust
anchor and the CRLs we publish: at the current time for a signature without timestamp, and at
the timestamp's time for one with (plus, for the compromise rule, the revocation reason that
pyHanko reads from the CRL at the current time).
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from ca_core.revocation import Revoker
from ca_core.store import Store
from ca_core.store.models import Certificate
from crl.publish import crl_der, newest_crls
from signing_api.pdf_sign import LEVELS, SignOptions, sign_pdf
from tests.authority_support import WITNESSED
from tests.cli_support import PsreEnv
from tests.esign_support import b64, make_esign_app, new_client, pdf_upload, post_json
from tests.pdf_support import minimal_pdf
from tests.signing_support import SigningPki, build_signing_pki
from tests.verify_support import verify_with_store
from tests.web_support import csrf

#: pyHanko's names of the reasons that void a key's work whatever the time (RFC 3161 §4).
COMPROMISE = {"key_compromise", "ca_compromise", "aa_compromise"}


@pytest.fixture
def fresh_spki(store: Store, db_url: str, backend) -> Iterator[SigningPki]:
    """A signing PKI of this test's own: revoking its issuing CA or TSA touches no other test."""
    yield build_signing_pki(store, backend, db_url)


def _signed_at_every_level(spki: SigningPki, signer: Certificate) -> dict[str, bytes]:
    return {
        level: sign_pdf(spki.engine, minimal_pdf(f"Nota {level}"), signer, SignOptions(level=level))
        for level in LEVELS
    }


def _revoke(spki: SigningPki, serial: str, reason: str, ca: str) -> None:
    time.sleep(1.1)  # revocation times have whole seconds; the same second counts as revoked
    # CA-level certificates (the issuing CA, the TSA) change status only under an
    # authorisation (issue 15 item 1): what a witnessed ceremony step passes.
    change = spki.pki.revoker.revoke(serial, reason, actor="test", ca=ca, authorisation=WITNESSED)
    assert change.changed and change.status == _status(reason)


def _status(reason: str) -> str:
    return "hold" if reason == "certificateHold" else "revoked"


def _published_crls(spki: SigningPki) -> list[asn1_crl.CertificateList]:
    """Every CRL we publish (complete and delta, root and issuing CA), as served."""
    out = []
    for info in newest_crls(spki.store):
        der = crl_der(spki.store, info.id)
        assert der is not None
        out.append(asn1_crl.CertificateList.load(der))
    return out


def _pyhanko(spki: SigningPki, data: bytes, at_timestamp: bool):
    """pyHanko's status of the only signature: at the current time, or at its timestamp's."""
    (sig,) = PdfFileReader(io.BytesIO(data)).embedded_regular_signatures
    crls = _published_crls(spki)

    def context(moment):
        return ValidationContext(
            trust_roots=[spki.root_asn1()],
            crls=crls,
            moment=moment,
            retroactive_revinfo=moment is not None,
            revocation_mode="hard-fail",
        )

    now = validate_pdf_signature(sig, context(None), context(None))
    if not at_timestamp:
        return now, None
    ts_time = now.timestamp_validity.timestamp
    return now, validate_pdf_signature(sig, context(ts_time), context(ts_time))


def _pyhanko_verdict(spki: SigningPki, data: bytes, level: str, path: str) -> bool:
    """What pyHanko's validator says, with the documented rule on top: a timestamped signature
    counts at its timestamp's time unless the revocation since is a compromise."""
    now, then = _pyhanko(spki, data, at_timestamp=level != "B-B")
    if then is None:
        return now.bottom_line
    details = (now.timestamp_validity if path == "tsa" else now).revocation_details
    assert details is not None, "pyHanko does not see the revocation now"
    return then.bottom_line and details.revocation_reason.native not in COMPROMISE


@pytest.mark.parametrize("reason", ["cessationOfOperation", "certificateHold", "keyCompromise"])
def test_issuing_ca_revoked_after_signing(fresh_spki: SigningPki, reason: str) -> None:
    spki = fresh_spki
    signer = spki.new_signer("Rina Wulandari")
    docs = _signed_at_every_level(spki, signer)
    for level, data in docs.items():
        assert verify_with_store(spki.rt, data).summary == "VALID", level
    issuing = format(spki.pki.cert(spki.pki.issuing).serial_number, "x")
    _revoke(spki, issuing, reason, ca=spki.pki.root)

    for level, data in docs.items():
        report = verify_with_store(spki.rt, data)
        (r,) = report.signatures
        # B-B: judged now, under a revoked CA. Timestamped: judged at the timestamp, before the
        # revocation, unless the CA's key was compromised.
        expected = level != "B-B" and reason != "keyCompromise"
        assert (report.summary == "VALID") is expected, (level, r.problems)
        assert r.valid is expected
        assert [c.role for c in r.chain] == ["signer", "signer-ca"]
        leaf, ca = r.chain
        assert leaf.status_now == "good" and ca.status_now == _status(reason)
        assert ca.serial == issuing and ca.revocation_reason == reason
        if level == "B-B":
            assert r.validated_at is None and ca.status == _status(reason)
            assert any("signer's CA certificate PSrE Uji Issuing CA" in p for p in r.problems)
        elif reason == "keyCompromise":
            # The TSA unit is certified by the same CA: its timestamp dates nothing any more.
            assert not r.timestamp_trusted and r.validated_at is None
            assert r.tsa_chain[1].serial == issuing
            assert any("keyCompromise" in p for p in r.problems), r.problems
        else:
            assert r.validated_at == r.timestamp_time and r.timestamp_trusted
            assert ca.status == "good" and not r.problems
        assert _pyhanko_verdict(spki, data, level, "signer") is expected, level
    # The independent validator sees what the issue's reviewer saw with openssl: the CA revoked.
    now, _ = _pyhanko(spki, docs["B-B"], at_timestamp=False)
    assert now.revocation_details is not None and now.revocation_details.ca_revoked


@pytest.mark.parametrize("reason", ["superseded", "keyCompromise"])
def test_tsa_revoked_after_stamping(fresh_spki: SigningPki, reason: str) -> None:
    """RFC 3161 §4: tokens made before a TSA is retired stay valid; after a compromise of its
    key none can be trusted, and the signature falls back to being judged now, undated."""
    spki = fresh_spki
    signer = spki.new_signer("Agus Salim")
    data = sign_pdf(spki.engine, minimal_pdf("Undangan"), signer, SignOptions(level="B-T"))
    _revoke(spki, spki.tsa.serial_hex, reason, ca=spki.pki.issuing)

    report = verify_with_store(spki.rt, data)
    (r,) = report.signatures
    expected = reason != "keyCompromise"
    assert (report.summary == "VALID") is expected, r.problems
    assert [c.role for c in r.tsa_chain] == ["tsa", "tsa-ca"]
    assert r.tsa_chain[0].status_now == "revoked"
    assert r.timestamp_trusted is expected
    if not expected:
        assert r.validated_at is None
        assert any("TSA's certificate" in p and "keyCompromise" in p for p in r.problems)
    assert _pyhanko_verdict(spki, data, "B-T", "tsa") is expected


def test_signer_key_compromise_voids_even_timestamped_signatures(fresh_spki: SigningPki) -> None:
    """The rule applies to the signer's own certificate too; other reasons count from their
    date (tests/test_verify.py::test_revoked_after_the_timestamp_stays_valid)."""
    spki = fresh_spki
    signer = spki.new_signer("Dewi Lestari")
    data = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-LT"))
    _revoke(spki, signer.serial_hex, "keyCompromise", ca=spki.pki.issuing)
    (r,) = verify_with_store(spki.rt, data).signatures
    assert not r.valid and r.status_at_signing == "revoked"
    assert _pyhanko_verdict(spki, data, "B-LT", "signer") is False


def test_every_surface_says_not_valid_under_a_revoked_ca(
    fresh_spki: SigningPki, db_url: str, tmp_path: Path
) -> None:
    """The issue's case on each surface: API v1 and v2, the public /verify page, and
    `psre pdf verify` (a process of its own on the same database)."""
    spki = fresh_spki
    signer = spki.new_signer("Siti Rahayu")
    data = sign_pdf(spki.engine, minimal_pdf("Nota Dinas"), signer, SignOptions(level="B-B"))
    app = make_esign_app(spki.pki, db_url)
    http = app.test_client()
    creds = new_client(spki.pki)

    def v1() -> dict:
        form = {"signed_file": pdf_upload(data, "nota.pdf")}
        resp = http.post(
            "/api/sign/verify", data=form, headers=creds.headers, content_type="multipart/form-data"
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    def v2() -> dict:
        return post_json(http, "/api/v2/verify/pdf", creds, {"file": b64(data)}).get_json()

    def page() -> str:
        token = csrf(http.get("/verify").get_data(as_text=True))
        form = {"csrf_token": token, "pdf": (io.BytesIO(data), "nota.pdf")}
        html = http.post("/verify", data=form, content_type="multipart/form-data")
        return html.get_data(as_text=True)

    def cli() -> subprocess.CompletedProcess[str]:
        path = tmp_path / "nota.pdf"
        path.write_bytes(data)
        env = PsreEnv(tmp_path, {"PSRE_DATABASE_URL": db_url})
        env.config.touch()  # all defaults, but for the database above
        return env.run("pdf", "verify", str(path), "--json", check=False)

    assert v1()["summary"] == "DOCUMENT VALID !!!"
    assert (v2()["conclusion"], v2()["signatureInformations"][0]["certLevelCode"]) == (
        "VALID",
        "GOOD",
    )
    assert 'data-summary="VALID"' in page()
    assert cli().returncode == 0

    issuing = format(spki.pki.cert(spki.pki.issuing).serial_number, "x")
    _revoke(spki, issuing, "keyCompromise", ca=spki.pki.root)

    answer = v1()
    assert answer["summary"] == "DOCUMENT NOT VALID !!!" and answer["verdict"] == "INVALID"
    (d,) = answer["details"]
    assert d["info_signer"]["cert_user_certified"] is False and d["valid"] is False
    assert d["info_signer"]["certificate_status"] == "good"  # the leaf itself is not revoked
    assert [(c["role"], c["status_now"]) for c in d["chain"]] == [
        ("signer", "good"),
        ("signer-ca", "revoked"),
    ]
    info = v2()
    assert info["conclusion"] == "INVALID"
    (sig,) = info["signatureInformations"]
    assert sig["certLevelCode"] == "REVOKED" and sig["certificateTrusted"] is False
    html = page()
    assert 'data-summary="INVALID"' in html
    assert 'data-role="signer-ca" data-status="revoked" data-status-now="revoked"' in html
    res = cli()
    assert res.returncode == 1, res.stdout + res.stderr
    (reported,) = json.loads(res.stdout)["signatures"]
    assert reported["chain"][1]["status_now"] == "revoked"


def test_a_revocation_not_yet_published_counts(fresh_spki: SigningPki, db_url: str) -> None:
    """Our store's rows are a source of their own: a revocation recorded by another process
    (no publisher there, so the CRLs and OCSP responses still say good) counts at once."""
    spki = fresh_spki
    signer = spki.new_signer("Budi Santoso")
    data = sign_pdf(spki.engine, minimal_pdf(), signer, SignOptions(level="B-B"))
    elsewhere = Store.open(db_url)
    try:
        time.sleep(1.1)
        issuing = format(spki.pki.cert(spki.pki.issuing).serial_number, "x")
        Revoker(elsewhere, spki.pki.issuer.recover).revoke(
            issuing, "superseded", actor="test", ca=spki.pki.root, authorisation=WITNESSED
        )
    finally:
        elsewhere.close()
    assert _pyhanko_verdict(spki, data, "B-B", "signer") is True  # the published data lags
    report = verify_with_store(spki.rt, data)
    assert report.summary == "INVALID"
    assert report.signatures[0].chain[1].status == "revoked"
