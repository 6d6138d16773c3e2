"""``/metrics`` (issue 18): a listener of its own next to ``psre serve``, never on the public
port, summing what every worker and helper counted, scraped over real HTTP after real requests."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from tests.cli_support import (
    EsignInstall,
    PsreEnv,
    Serving,
    free_port,
    install_esign,
    served,
    wait_http,
)
from tests.pdf_support import minimal_pdf


@dataclass
class Metered:
    env: PsreEnv
    install: EsignInstall
    serving: Serving
    metrics_url: str


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    port = free_port()
    env = PsreEnv(
        tmp_path_factory.mktemp("psre-metrics"),
        {"PSRE_METRICS_LISTEN": f"127.0.0.1:{port}", "PSRE_SIGNING_MAX_FAILURES": "2"},
    )
    inst = install_esign(env)
    stale = env.root / "var" / "metrics" / "counter_99999.db"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"left over from an earlier run")
    with served(env) as s:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_http(url)
        yield Metered(env, inst, s, url)


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` (summed over the others)."""
    total = 0.0
    for key, v in samples.items():
        m = re.fullmatch(r"([^{]+)(?:\{(.*)\})?", key)
        assert m is not None
        if m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v_ for k, v_ in labels.items()):
            total += v
    return total


def ocsp_request(env: PsreEnv, profile: str, nonce: bytes | None = None) -> bytes:
    db = sqlite3.connect(env.root / "var" / "psre.sqlite3")
    try:
        (der,) = db.execute("select der from certificates where profile = ?", (profile,)).fetchone()
        (ca,) = db.execute(
            "select certificate_der from certificate_authorities where name = 'issuing-ca'"
        ).fetchone()
    finally:
        db.close()
    sha1 = hashes.SHA1()  # noqa: S303 - the CertID hash clients send
    b = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_der_x509_certificate(der), x509.load_der_x509_certificate(ca), sha1
    )
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def post(url: str, data: bytes, content_type: str) -> int:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as ex:
        return ex.code


def test_metrics_listener_counts_real_requests(metered: Metered):
    base = metered.serving.url
    before = scrape(metered.metrics_url)
    get = ocsp_request(metered.env, "tsa")
    for _ in range(3):
        with urllib.request.urlopen(
            f"{base}/ocsp/{base64.b64encode(get).decode()}", timeout=30
        ) as r:
            assert r.status == 200
    # A nonce: signed live in the token by a worker.
    assert post(f"{base}/ocsp", ocsp_request(metered.env, "tsa", b"n" * 16),
                "application/ocsp-request") == 200  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{base}/no/such/page", timeout=30)
    assert e.value.code == 404
    # A CLI issuance while psre serve runs counts too (the same metrics directory).
    csr = metered.env.root / "mailbox.csr"
    csr.write_bytes(mailbox_csr("metrik@kemenuji.go.id"))
    metered.env.run("issue", "--profile", "smime-mailbox", "--csr", str(csr), "--ca",
                    "issuing-ca", "--out", str(metered.env.root / "mailbox.pem"))  # fmt: skip
    after = scrape(metered.metrics_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("psre_http_requests_total", endpoint="/ocsp", method="GET", code="200") == 3
    assert moved("psre_http_requests_total", endpoint="/ocsp", method="POST", code="200") == 1
    assert moved("psre_http_requests_total", endpoint="unmatched", code="404") == 1
    assert moved("psre_http_request_duration_seconds_count", endpoint="/ocsp") == 4
    assert moved("psre_hsm_sign_duration_seconds_count") >= 1
    assert moved("psre_certificates_issued_total", profile="smime-mailbox") == 1
    # What the database knows, read at scrape time.
    assert value(after, "psre_metrics_database_up") == 1
    assert 0 < value(after, "psre_crl_newest_age_seconds", ca="issuing-ca") < 3600
    assert 0 <= value(after, "psre_ocsp_oldest_presigned_age_seconds") < 3600
    assert value(after, "psre_ocsp_presign_backlog") == 0
    # The stale file of an earlier run was cleaned away at start, not summed in.
    assert not (metered.env.root / "var" / "metrics" / "counter_99999.db").exists()


def test_lockouts_counted(metered: Metered):
    before = value(scrape(metered.metrics_url), "psre_lockouts_total", kind="signer")
    body = {
        "nik": metered.install.nik,
        "passphrase": "not-the-passphrase",
        "file": [base64.b64encode(minimal_pdf("Surat")).decode()],
    }
    auth = base64.b64encode(f"{metered.install.username}:{metered.install.password}".encode())
    codes = []
    for _ in range(2):
        req = urllib.request.Request(
            metered.serving.url + "/api/v2/sign/pdf",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": b"Basic " + auth},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                codes.append(r.status)
        except urllib.error.HTTPError as ex:
            codes.append(ex.code)
    assert codes[-1] == 423, codes
    after = value(scrape(metered.metrics_url), "psre_lockouts_total", kind="signer")
    assert after - before == 1


def test_metrics_are_not_on_the_public_port(metered: Metered):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(metered.serving.url + "/metrics", timeout=30)
    assert e.value.code == 404


def mailbox_csr(email: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, email)]))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)
