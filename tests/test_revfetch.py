"""signing_api.revfetch against a real local HTTP server: an answer larger than the bound, one
that comes too late and one that is not OCSP are all "no revocation data", in bounded time."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from signing_api.revfetch import FetchLimits, fetch_ocsp

LIMITS = FetchLimits(timeout_seconds=1.0, max_bytes=2048, max_requests=4)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/slow":
            time.sleep(3)
        body = b"\x30" * 100_000 if self.path == "/huge" else b"not an OCSP response"
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up, as it should

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _pair(ocsp_url: str) -> tuple[asn1_x509.Certificate, asn1_x509.Certificate]:
    """A CA and a certificate it issued that names ``ocsp_url`` (test inputs only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Uji CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Uji")]))
        .issuer_name(name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                )]
            ),
            False,
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip

    def der(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    return der(leaf), der(ca)


@pytest.mark.parametrize("path", ["/huge", "/slow", "/junk"])
def test_bad_answers_are_no_revocation_data(server: str, path: str):
    leaf, ca = _pair(server + path)
    started = time.monotonic()
    assert fetch_ocsp(leaf, ca, LIMITS) is None
    assert time.monotonic() - started < 2.5  # the timeout, not the server, decides


def test_unreachable_and_non_http_urls(server: str):
    leaf, ca = _pair("http://127.0.0.1:9/ocsp")  # discard port: connection refused
    assert fetch_ocsp(leaf, ca, LIMITS) is None
    leaf, ca = _pair("file:///etc/passwd")
    assert fetch_ocsp(leaf, ca, LIMITS) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PSRE_VERIFY_FETCH_TIMEOUT_SECONDS", "120"),
        ("PSRE_VERIFY_FETCH_MAX_BYTES", "100"),
        ("PSRE_VERIFY_FETCH_MAX_REQUESTS", "0"),
    ],
)
def test_fetch_bounds_are_bounded_in_the_config(tmp_path, key: str, value: str):
    from ca_core.config import load_config
    from ca_core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "psre.toml", env={key: value})
    assert key.removeprefix("PSRE_VERIFY_").lower() in str(err.value)
