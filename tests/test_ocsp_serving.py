"""The responder as deployed: gunicorn gthread workers (live signing from many threads at
once) behind the shipped nginx configuration (pre-signed responses as static files)."""

from __future__ import annotations

import base64
import concurrent.futures
import email.utils
import os
import secrets
import sys
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from ocsp.nginx import SHIPPED, NginxSite, render
from ocsp.signing import EXTENDED_REVOKE_OID, IssuerHashes
from ocsp.static import file_for
from tests.cli_support import REPO, free_port, nginx_serving
from tests.ocsp_support import OcspPki, openssl_ocsp, running, sqlite_ocsp_pki

SHA1 = hashes.SHA1()  # noqa: S303 - the CertID hash most clients send


@pytest.fixture(scope="module")
def op(backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OcspPki]:
    yield from sqlite_ocsp_pki(backend, tmp_path_factory.mktemp("ocsp-serving"))


@pytest.fixture(scope="module")
def good(op: OcspPki) -> x509.Certificate:
    cert = op.new_cert()
    op.presigner.presign_certificate(op.pki.issuing, format(cert.serial_number, "x"))
    return cert


@pytest.fixture(scope="module")
def gunicorn(op: OcspPki, token, good) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSRE_")}
    env.update(
        PYTHONPATH=str(REPO),
        PSRE_CONFIG=str(op.tmp / "none.toml"),
        PSRE_DATABASE_URL=str(op.store.engine.url),
        PSRE_DATA_DIR=str(op.tmp),
        PSRE_PUBLIC_BASE_URL="http://pki.psre-uji.id",
        PSRE_HSM_TOKEN_LABEL=token.label,
        PSRE_HSM_PIN_SOURCE="env:PSRE_TEST_HSM_PIN",
        PSRE_TEST_HSM_PIN=token.user_pin,
        PSRE_HSM_SOFTHSM_CONF=str(token.conf),
        PSRE_OCSP_LIVE_RATE="100000",
        PSRE_OCSP_LIVE_BURST="100000",
    )
    cmd = [
        sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "4",
        "-b", f"127.0.0.1:{port}", "psre.wsgi:create_wsgi()",
    ]  # fmt: skip
    with (
        (op.tmp / "gunicorn.log").open("wb") as log,
        running(
            cmd, f"http://127.0.0.1:{port}/healthz", cwd=op.tmp, env=env, stdout=log, stderr=log
        ),
    ):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def nginx(op: OcspPki, gunicorn: str) -> Iterator[str]:
    port = free_port()
    prefix = op.tmp / "nginx"
    site = render(NginxSite(root=op.tmp / "public", listen=f"127.0.0.1:{port}", upstream=gunicorn))
    with nginx_serving(prefix, site, f"http://127.0.0.1:{port}/healthz"):
        yield f"http://127.0.0.1:{port}"


def request_der(op: OcspPki, cert: x509.Certificate, h=SHA1, nonce: bytes | None = None) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, op.pki.cert(op.pki.issuing), h)
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def fetch(url: str, data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/ocsp-request"} if data else {}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        # Repeated fields (nginx sends Cache-Control twice: expires + add_header) joined.
        headers = {k: ", ".join(r.headers.get_all(k)) for k in set(r.headers.keys())}
        return r.status, headers, r.read()


def test_shipped_nginx_config_is_the_rendering_of_the_defaults():
    shipped = (REPO / "deploy" / "nginx" / "psre-ocsp.conf").read_text()
    assert shipped == render(SHIPPED)


def test_live_signing_is_thread_safe_under_gthread(op: OcspPki, gunicorn: str, good):
    """2 workers x 4 threads signing nonce responses at once in SoftHSM (python-pkcs11 0.10
    without OS locking crashed here)."""
    signer = op.signer_cert.public_key()
    assert isinstance(signer, ec.EllipticCurvePublicKey)

    def one(i: int) -> bool:
        nonce = secrets.token_bytes(16)
        status, _h, body = fetch(f"http://{gunicorn}/ocsp", request_der(op, good, nonce=nonce))
        resp = ocsp.load_der_ocsp_response(body)
        assert status == 200 and resp.certificate_status is ocsp.OCSPCertStatus.GOOD, i
        assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        signer.verify(
            resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm)
        )
        return True

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert all(pool.map(one, range(160)))


def test_nginx_serves_presigned_files_with_cache_headers(op: OcspPki, nginx: str, good):
    for alg in (SHA1, hashes.SHA256()):
        der = request_der(op, good, alg)
        path = file_for(op.tmp / "public", der)
        assert path.exists()
        b64 = base64.b64encode(der).decode()
        for url in (f"{nginx}/ocsp/{b64}", f"{nginx}/ocsp/{quote(b64, safe='')}"):
            status, headers, body = fetch(url)
            assert status == 200 and body == path.read_bytes(), url
            # nginx's own ETag ("mtime-size"), not the responder's: no Python involved.
            assert "-" in headers["ETag"]
            resp = ocsp.load_der_ocsp_response(body)
            assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
            assert headers["Content-Type"] == "application/ocsp-response"
            assert email.utils.parsedate_to_datetime(headers["Expires"]) == resp.next_update_utc
            assert (
                email.utils.parsedate_to_datetime(headers["Last-Modified"]) == resp.this_update_utc
            )
            cc = headers["Cache-Control"]
            assert "max-age=" in cc and "public" in cc and "must-revalidate" in cc


def test_nginx_falls_back_to_python_for_misses_and_post(op: OcspPki, nginx: str, good):
    h = IssuerHashes.of(op.pki.cert(op.pki.issuing).public_bytes(serialization.Encoding.DER))
    never = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(h.name["sha1"], h.key["sha1"], 0x5EED, SHA1)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    status, _h, body = fetch(f"{nginx}/ocsp/{base64.b64encode(never).decode()}")
    resp = ocsp.load_der_ocsp_response(body)
    assert status == 200 and resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    resp.extensions.get_extension_for_oid(EXTENDED_REVOKE_OID)
    status, headers, body = fetch(f"{nginx}/ocsp", request_der(op, good))
    assert ocsp.load_der_ocsp_response(body).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert len(headers["ETag"]) == 66  # the Python responder's SHA-256 ETag
    # Oversized bodies are refused by nginx before Python sees them.
    with pytest.raises(urllib.error.HTTPError) as err:
        fetch(f"{nginx}/ocsp", b"\x30" * 10000)
    assert err.value.code == 413


def test_openssl_through_nginx(op: OcspPki, nginx: str, good):
    issuing = op.pem("issuing.pem", op.pki.cert(op.pki.issuing))
    trust = op.pem("trust.pem", op.pki.cert(op.pki.root), op.pki.cert(op.pki.issuing))
    leaf = op.pem("good.pem", good)
    out = openssl_ocsp("-issuer", issuing, "-cert", leaf, "-url", f"{nginx}/ocsp", "-CAfile", trust)
    assert "Response verify OK" in out and "good.pem: good" in out, out
