"""The CRL endpoint: headers and conditional requests (Flask test client), and over a real
socket the CRLs that openssl (-crl_download from the certificate's CRL DP), NSS (crlutil,
vfychain) and pyhanko-certvalidator fetch and check."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from werkzeug.serving import make_server

from ca_core.issuer import Issuer
from policies.schema import load_profiles
from tests.crl_support import CrlPki, crl_pki
from tests.pki_support import Pki
from tests.web_support import make_app


@pytest.fixture
def cp(pki: Pki, tmp_path: Path) -> CrlPki:
    return crl_pki(pki, tmp_path / "public", partitions=2)


def test_endpoint_serves_der_with_caching_headers_and_304(cp: CrlPki, db_url: str):
    pki = cp.pki
    revoked = cp.issue()
    pki.revoker.revoke(revoked.serial_hex, "keyCompromise", actor="t")
    cp.publisher.publish(pki.issuing)
    client = make_app(pki, db_url).test_client()
    _, der = cp.crl()

    r = client.get(f"/crl/{pki.issuing}.crl")
    assert r.status_code == 200 and r.mimetype == "application/pkix-crl"
    assert r.data == der
    crl = x509.load_der_x509_crl(r.data)
    assert r.last_modified == crl.last_update_utc
    etag, _ = r.get_etag()
    assert etag and r.headers["ETag"] == f'"{etag}"'
    max_age = r.cache_control.max_age
    assert max_age is not None and 0 < max_age <= 3600
    # Caches hold it no longer than its nextUpdate.
    assert dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max_age) < crl.next_update_utc

    again = client.get(f"/crl/{pki.issuing}.crl", headers={"If-None-Match": f'"{etag}"'})
    assert again.status_code == 304 and again.data == b""
    since = client.get(
        f"/crl/{pki.issuing}.crl", headers={"If-Modified-Since": r.headers["Last-Modified"]}
    )
    assert since.status_code == 304
    stale = client.get(f"/crl/{pki.issuing}.crl", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200 and stale.data == der

    for name, kind, part in (
        (f"{pki.issuing}-1", "partition", 1),
        (f"{pki.issuing}-delta", "delta", -1),
    ):
        r = client.get(f"/crl/{name}.crl")
        assert r.status_code == 200 and r.data == cp.crl(kind, part)[1]
    missing = client.get(f"/crl/{pki.issuing}-7.crl")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert client.get("/crl/nobody.crl").status_code == 404
    # A re-signed CRL gets a new ETag; the old one no longer matches.
    cp.publisher.publish(pki.issuing)
    new = client.get(f"/crl/{pki.issuing}.crl", headers={"If-None-Match": f'"{etag}"'})
    assert new.status_code == 200 and new.get_etag()[0] != etag


def _freshness(r) -> tuple[int, dt.datetime]:
    max_age = r.cache_control.max_age
    assert max_age is not None and r.expires is not None, r.headers
    return max_age, r.expires


@pytest.mark.parametrize("age_hours", [0, 23.5])
def test_expires_agrees_with_max_age_and_ends_before_next_update(
    pki: Pki, db_url: str, tmp_path: Path, age_hours: float
):
    """Expires is now + max-age (HTTP/1.0 caches and some CDNs read only Expires) — it used to
    equal Date, so caches took the CRL as stale on arrival — and both end before nextUpdate,
    also for a CRL close to it; a 304 carries the same freshness."""
    signed_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=age_hours)
    cp = crl_pki(pki, tmp_path / "public", clock=lambda: signed_at)
    cp.publisher.publish(pki.issuing)
    crl, _ = cp.crl()
    client = make_app(pki, db_url).test_client()
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    r = client.get(f"/crl/{pki.issuing}.crl")
    after = dt.datetime.now(dt.UTC)
    max_age, expires = _freshness(r)
    if age_hours == 0:
        assert max_age == 3600  # crl.http_max_age_seconds
    else:  # 30 minutes left: cut to a minute before nextUpdate
        assert 1500 < max_age <= 1740
    assert (
        before + dt.timedelta(seconds=max_age) <= expires <= after + dt.timedelta(seconds=max_age)
    )
    assert expires <= crl.next_update_utc - dt.timedelta(seconds=60)
    not_modified = client.get(
        f"/crl/{pki.issuing}.crl", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert not_modified.status_code == 304
    assert abs(_freshness(not_modified)[0] - max_age) <= 1
    # RFC 9110 §15.4.5: ETag, Cache-Control and Expires as a 200 would have them.
    assert not_modified.headers["ETag"] == r.headers["ETag"]


@pytest.fixture
def served(pki: Pki, db_url: str) -> Iterator[str]:
    """The real app on a real socket (werkzeug's threaded server) on 127.0.0.1."""
    server = make_server("127.0.0.1", 0, make_app(pki, db_url), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"] == "application/pkix-crl"
        return r.read()


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def test_relying_parties_fetch_and_check_over_http(pki: Pki, served: str, tmp_path: Path):
    # Certificates whose CRL DP points at this very server, partitioned in two.
    cp = crl_pki(pki, tmp_path / "public", partitions=2)
    cp.publisher.base_url = served
    local = Issuer(pki.store, pki.backend, load_profiles(), base_url=served, crl_partitions=2)
    cp.pki.issuer, saved = local, pki.issuer
    try:
        good, bad = cp.issue(), cp.issue()
    finally:
        cp.pki.issuer = saved
    pki.revoker.revoke(bad.serial_hex, "keyCompromise", actor="t")
    cp.publisher.publish(pki.issuing)
    cp.publisher.publish(pki.root)
    root, issuing = pki.cert(pki.root), pki.cert(pki.issuing)
    root_pem = _pem(tmp_path / "root.pem", root)
    issuing_pem = _pem(tmp_path / "issuing.pem", issuing)

    # openssl downloads the leaf's CRL from its CRL DP (our endpoint) and checks it.
    def openssl(leaf: x509.Certificate) -> str:
        res = subprocess.run(
            [
                "openssl", "verify", "-crl_check", "-crl_download",
                "-CAfile", str(root_pem), "-untrusted", str(issuing_pem),
                str(_pem(tmp_path / "leaf.pem", leaf)),
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return res.stdout + res.stderr

    out = openssl(good.certificate)
    assert out.strip().endswith(": OK"), out
    assert "certificate revoked" in openssl(bad.certificate)

    # The CRLs as fetched over HTTP, by URL from the certificates.
    def dp(cert: x509.Certificate) -> str:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        return ext[0].full_name[0].value

    leaf_crls = {c.serial_hex: _fetch(dp(c.certificate)) for c in (good, bad)}
    arl = _fetch(f"{served}/crl/{pki.root}.crl")
    # The ARL names its delta in freshestCRL; a hard-fail validator wants that one too.
    arl_delta = _fetch(f"{served}/crl/{pki.root}-delta.crl")

    # pyhanko-certvalidator agrees (hard-fail: a missing CRL would be an error too).
    for issued, crl_der in leaf_crls.items():
        ctx = ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))],
            other_certs=[
                asn1_x509.Certificate.load(issuing.public_bytes(serialization.Encoding.DER))
            ],
            crls=[crl_der, arl, arl_delta],
            revocation_mode="hard-fail",
        )
        leaf = good if issued == good.serial_hex else bad
        validator = CertificateValidator(
            asn1_x509.Certificate.load(leaf.certificate.public_bytes(serialization.Encoding.DER)),
            validation_context=ctx,
        )
        if leaf is good:
            asyncio.run(validator.async_validate_usage({"digital_signature"}))
        else:
            with pytest.raises(RevokedError):
                asyncio.run(validator.async_validate_usage({"digital_signature"}))

    # NSS reads the complete CRL (crlutil imports only a CRL whose signature verifies) and
    # vfychain uses it. NSS refuses CRLs with a critical issuingDistributionPoint or a
    # deltaCRLIndicator (it implements neither), so NSS relying parties use the complete CRL.
    db = tmp_path / "nss"
    db.mkdir()
    nss = f"sql:{db}"
    subprocess.run(["certutil", "-N", "-d", nss, "--empty-password"], check=True)
    for nick, cert, trust in (("root", root, "CT,C,C"), ("issuing", issuing, ",,")):
        pem_path = _pem(tmp_path / f"{nick}.nss.pem", cert)
        subprocess.run(
            ["certutil", "-A", "-d", nss, "-n", nick, "-t", trust, "-a", "-i", str(pem_path)],
            check=True,
        )
    crl_path = tmp_path / "bad.crl"
    crl_path.write_bytes(_fetch(f"{served}/crl/{pki.issuing}.crl"))
    subprocess.run(["crlutil", "-I", "-d", nss, "-i", str(crl_path), "-B"], check=True)
    listing = subprocess.run(
        ["crlutil", "-L", "-d", nss], capture_output=True, text=True, check=True
    ).stdout
    assert "issuing" in listing  # listed under the issuing CA's nickname
    entries = subprocess.run(
        ["crlutil", "-L", "-d", nss, "-n", "issuing"], capture_output=True, text=True, check=True
    ).stdout
    assert format(int(bad.serial_hex, 16), "x") in entries.replace(":", "").lower()

    # NSS checks a document signer with its e-mail-signer usage (4), which the natural-person
    # profile's emailProtection EKU satisfies.
    def vfychain(leaf: x509.Certificate) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "leaf.der"
        path.write_bytes(leaf.public_bytes(serialization.Encoding.DER))
        return subprocess.run(
            ["vfychain", "-d", nss, "-u", "4", "-v", str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    ok = vfychain(good.certificate)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    revoked = vfychain(bad.certificate)
    assert revoked.returncode != 0 and "REVOKED" in (revoked.stdout + revoked.stderr).upper()
