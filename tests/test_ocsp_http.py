"""The OCSP responder over HTTP: pre-signed answers and their headers, live nonce answers,
malformed and oversized requests, rate limiting, a database outage, and independent clients
(openssl ocsp) over a real socket."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import re
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca_core import lint
from ca_core.store import ReadOnlyStore
from ocsp.http import responder_of
from ocsp.signing import EPOCH, EXTENDED_REVOKE_OID, IssuerHashes
from tests.conftest import _backends
from tests.ocsp_support import (
    OcspPki,
    ServerThread,
    make_app,
    make_config,
    ocsp_pki_per_backend,
    openssl_ocsp,
)

SHA1 = hashes.SHA1()  # noqa: S303 - the CertID hash most clients send
OCSP_REQ = {"Content-Type": "application/ocsp-request"}


@pytest.fixture(scope="module", params=_backends())
def op(request, backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OcspPki]:
    yield from ocsp_pki_per_backend(request, backend, tmp_path_factory.mktemp("ocsp-http"))


@pytest.fixture(scope="module")
def app(op: OcspPki) -> Iterator[Flask]:
    cfg = make_config(op, str(op.store.engine.url), index_refresh_seconds=0.2)
    a = make_app(op, cfg)
    a.extensions["psre"].attach_publishers()  # revocations re-sign at once, as in production
    yield a
    responder_of(a).index.stop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def server(app: Flask) -> Iterator[ServerThread]:
    s = ServerThread(app)
    yield s
    s.close()


def req_der(op: OcspPki, cert: x509.Certificate, h=None, nonce: bytes | None = None) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, op.pki.cert(op.pki.issuing), h or SHA1)
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def presigned(op: OcspPki, app: Flask) -> x509.Certificate:
    """A new certificate with its responses pre-signed and loaded by the responder."""
    cert = op.new_cert()
    op.presigner.presign_certificate(op.pki.issuing, format(cert.serial_number, "x"))
    responder_of(app).index.refresh()
    return cert


def parse(body: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(body)


def test_post_answers_presigned_with_rfc5019_headers(op: OcspPki, app: Flask, client):
    cert = presigned(op, app)
    r = client.post("/ocsp", data=req_der(op, cert), headers=OCSP_REQ)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/ocsp-response"
    resp = parse(r.data)
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert resp.serial_number == cert.serial_number
    cc = r.headers["Cache-Control"]
    assert {"public", "no-transform", "must-revalidate"} <= {p.strip() for p in cc.split(",")}
    max_age = int(re.search(r"max-age=(\d+)", cc).group(1))  # type: ignore[union-attr]
    remaining = (resp.next_update_utc - dt.datetime.now(dt.UTC)).total_seconds()
    assert 0 < max_age <= remaining + 1
    assert email.utils.parsedate_to_datetime(r.headers["Expires"]) == resp.next_update_utc
    assert email.utils.parsedate_to_datetime(r.headers["Last-Modified"]) == resp.this_update_utc
    assert r.headers["ETag"].startswith('"') and len(r.headers["ETag"]) == 66
    # The same ETag again: 304.
    r2 = client.get(
        "/ocsp/" + quote(base64.b64encode(req_der(op, cert)).decode(), safe=""),
        headers={"If-None-Match": r.headers["ETag"]},
    )
    assert r2.status_code == 304


def test_get_encodings_and_sha256(op: OcspPki, app: Flask, client):
    cert = presigned(op, app)
    for h in (SHA1, hashes.SHA256()):
        b64 = base64.b64encode(req_der(op, cert, h)).decode()
        for path in (b64, quote(b64, safe=""), b64.rstrip("=")):
            r = client.get(f"/ocsp/{path}")
            assert r.status_code == 200, path
            resp = parse(r.data)
            assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
            assert isinstance(resp.hash_algorithm, type(h))


def test_revocation_reaches_the_responder_within_seconds(op: OcspPki, app: Flask, client):
    cert = presigned(op, app)
    op.pki.revoker.revoke(format(cert.serial_number, "x"), "keyCompromise", actor="test")
    # The publisher re-signed on the event; the responder's index refresh (0.2 s) picks it up.
    deadline = time.monotonic() + 10
    while True:
        resp = parse(client.post("/ocsp", data=req_der(op, cert), headers=OCSP_REQ).data)
        if resp.certificate_status is ocsp.OCSPCertStatus.REVOKED or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is x509.ReasonFlags.key_compromise


def test_nonce_is_echoed_by_a_live_signature(op: OcspPki, app: Flask, client):
    cert = presigned(op, app)
    for nonce in (b"\x01", b"n" * 16, b"x" * 32):
        r = client.post("/ocsp", data=req_der(op, cert, nonce=nonce), headers=OCSP_REQ)
        resp = parse(r.data)
        assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        assert "no-store" in r.headers["Cache-Control"]
        assert lint.blocking(lint.lint_ocsp_response(r.data)) == []


def test_nonce_longer_than_32_bytes_is_malformed(op: OcspPki, app: Flask, client):
    cert = presigned(op, app)
    r = client.post("/ocsp", data=req_der(op, cert, nonce=b"x" * 33), headers=OCSP_REQ)
    assert r.status_code == 200
    assert parse(r.data).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_never_issued_and_unknown_issuer(op: OcspPki, client):
    # never issued: RFC 6960 §2.2 extended revoked
    der = never_issued_request(op, 0xDEAD_BEEF)
    r = client.post("/ocsp", data=der, headers=OCSP_REQ)
    resp = parse(r.data)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_time_utc == EPOCH
    assert resp.revocation_reason is x509.ReasonFlags.certificate_hold
    resp.extensions.get_extension_for_oid(EXTENDED_REVOKE_OID)
    assert lint.blocking(lint.lint_ocsp_response(r.data)) == []
    # an issuer we don't serve: unknown
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(b"\x11" * 20, b"\x22" * 20, 5, SHA1)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    r = client.post("/ocsp", data=der, headers=OCSP_REQ)
    resp = parse(r.data)
    assert resp.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert resp.issuer_key_hash == b"\x22" * 20
    assert lint.blocking(lint.lint_ocsp_response(r.data)) == []


def never_issued_request(op: OcspPki, serial: int) -> bytes:
    h = IssuerHashes.of(op.store.get_ca(op.pki.issuing).certificate_der or b"")
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(h.name["sha1"], h.key["sha1"], serial, SHA1)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


def test_malformed_oversized_and_methods(op: OcspPki, app: Flask, client):
    for body in (b"", b"garbage", b"\x30\x03\x02\x01\x01", b"\x30\x80" + b"\x00" * 10):
        r = client.post("/ocsp", data=body, headers=OCSP_REQ)
        assert r.status_code == 200, body
        assert parse(r.data).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        assert lint.blocking(lint.lint_ocsp_response(r.data)) == []
    for path in ("/ocsp/!!!notbase64", "/ocsp/", "/ocsp/Z2FyYmFnZQ=="):
        r = client.get(path)
        assert r.status_code == 200, path
        assert parse(r.data).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    r = client.post("/ocsp", data=b"\x30" * 5000, headers=OCSP_REQ)
    assert r.status_code == 413
    assert client.put("/ocsp", data=b"x").status_code == 405


@pytest.mark.parametrize("serial_byte", [b"\x00", b"\x80"])
def test_zero_and_negative_serials_are_malformed(op: OcspPki, client, serial_byte: bytes):
    """RFC 5280 serials are positive: 0 and -128 in a CertID name nothing (a fuzz find: -128
    used to escape as a 500)."""
    der = never_issued_request(op, 0x7F)
    assert der.count(b"\x02\x01\x7f") == 1
    der = der.replace(b"\x02\x01\x7f", b"\x02\x01" + serial_byte)
    res = client.post("/ocsp", data=der, content_type="application/ocsp-request")
    assert res.status_code == 200
    assert parse(res.data).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_two_certids_are_malformed(op: OcspPki, app: Flask, client):
    """RFC 5019 profile: one CertID per request."""
    a, b = presigned(op, app), presigned(op, app)
    one = asn1_ocsp.OCSPRequest.load(req_der(op, a))
    other = asn1_ocsp.OCSPRequest.load(req_der(op, b))
    two = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [
                    one["tbs_request"]["request_list"][0],
                    other["tbs_request"]["request_list"][0],
                ]
            }
        }
    ).dump()
    r = client.post("/ocsp", data=two, headers=OCSP_REQ)
    assert parse(r.data).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_rate_limit_falls_back_to_presigned_or_try_later(op: OcspPki, app: Flask, client):
    from ocsp.live import TokenBucket

    cert = presigned(op, app)
    responder = responder_of(app)
    assert responder.live is not None
    saved = responder.live.bucket
    responder.live.bucket = TokenBucket(rate=0.001, burst=1)
    try:
        first = parse(client.post("/ocsp", data=req_der(op, cert, nonce=b"a" * 8)).data)
        assert len(first.extensions) == 1  # the nonce: signed live
        second = parse(client.post("/ocsp", data=req_der(op, cert, nonce=b"b" * 8)).data)
        # Over the limit: the pre-signed answer, without the nonce (RFC 8954 §2.1).
        assert second.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert len(second.extensions) == 0
        never = never_issued_request(op, 0xBAD)
        third = parse(client.post("/ocsp", data=never).data)
        assert third.response_status is ocsp.OCSPResponseStatus.TRY_LATER
    finally:
        responder.live.bucket = saved


def test_database_down_serves_presigned_until_next_update_never_after(
    op: OcspPki, app: Flask, client
):
    cert = presigned(op, app)
    responder = responder_of(app)
    live = responder.live
    assert live is not None
    good_store = live.store
    down = ReadOnlyStore.open("postgresql+psycopg://psre@127.0.0.1:1/none?connect_timeout=1")
    live.store = down
    responder.index.store = down
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
            responder.index.refresh()
        der = req_der(op, cert)
        r = client.post("/ocsp", data=der, headers=OCSP_REQ)
        assert parse(r.data).certificate_status is ocsp.OCSPCertStatus.GOOD
        # A nonce request cannot reach the database: the pre-signed answer, no nonce.
        r = client.post("/ocsp", data=req_der(op, cert, nonce=b"z" * 8), headers=OCSP_REQ)
        assert parse(r.data).certificate_status is ocsp.OCSPCertStatus.GOOD
        # Nothing cached (a process that just started): the refresher's static file answers.
        responder.index._cache.clear()
        r = client.post("/ocsp", data=der, headers=OCSP_REQ)
        assert parse(r.data).certificate_status is ocsp.OCSPCertStatus.GOOD
        assert r.headers["ETag"].startswith('"')
        # Once past its nextUpdate the response is never served, cached or from the file:
        # tryLater instead.
        after = parse(r.data).next_update_utc.timestamp() + 1
        responder.index.clock = lambda: after
        r = client.post("/ocsp", data=der, headers=OCSP_REQ)
        assert parse(r.data).response_status is ocsp.OCSPResponseStatus.TRY_LATER
        responder.index._cache.clear()
        r = client.post("/ocsp", data=der, headers=OCSP_REQ)
        assert parse(r.data).response_status is ocsp.OCSPResponseStatus.TRY_LATER
    finally:
        responder.index.clock = time.time
        live.store = good_store
        responder.index.store = good_store
        down.close()
        responder.index.refresh()


def test_worker_memory_is_bounded_not_one_entry_per_certificate(op: OcspPki, app: Flask, client):
    """Issue 18: a responder process no longer holds every pre-signed response; it keeps at most
    ``ocsp.cache_entries`` and reads the rest per request, still answering every one of them."""
    responder = responder_of(app)
    saved = responder.index.capacity
    responder.index.capacity = 3
    try:
        certs = [presigned(op, app) for _ in range(6)]
        for cert in certs * 2:
            for h in (SHA1, hashes.SHA256()):
                r = client.get("/ocsp/" + base64.b64encode(req_der(op, cert, h)).decode())
                resp = parse(r.data)
                assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
                assert resp.serial_number == cert.serial_number
                assert "ETag" in r.headers  # pre-signed, not signed live
                assert len(responder.index) <= 3
        # A revocation is seen once the cached row is older than index_refresh_seconds.
        op.pki.revoker.revoke(format(certs[-1].serial_number, "x"), "superseded", actor="test")
        time.sleep(0.3)
        r = client.post("/ocsp", data=req_der(op, certs[-1]), headers=OCSP_REQ)
        assert parse(r.data).certificate_status is ocsp.OCSPCertStatus.REVOKED
    finally:
        responder.index.capacity = saved


def test_status_page_lists_the_responder(app: Flask):
    assert any(r.rule.startswith("/ocsp") for r in app.url_map.iter_rules())


# --- independent client over a real socket ------------------------------------------------------


def test_openssl_good_revoked_never_issued(op: OcspPki, app: Flask, server: ServerThread):
    issuing = op.pem("issuing.pem", op.pki.cert(op.pki.issuing))
    trust = op.pem("trust.pem", op.pki.cert(op.pki.root), op.pki.cert(op.pki.issuing))
    good = presigned(op, app)
    revoked = presigned(op, app)
    op.pki.revoker.revoke(format(revoked.serial_number, "x"), "keyCompromise", actor="test")
    held = presigned(op, app)
    op.pki.revoker.suspend(format(held.serial_number, "x"), actor="test")
    responder_of(app).index.refresh()
    url = f"{server.url}/ocsp"

    def ask(cert: x509.Certificate, *extra: str) -> str:
        leaf = op.pem("leaf.pem", cert)
        return openssl_ocsp(
            *extra, "-issuer", issuing, "-cert", leaf, "-url", url, "-CAfile", trust
        )

    out = ask(good)
    assert "Response verify OK" in out and "leaf.pem: good" in out, out
    out = ask(good, "-sha256", "-no_nonce")
    assert "Response verify OK" in out and ": good" in out, out
    out = ask(revoked, "-no_nonce")
    assert "Response verify OK" in out and ": revoked" in out, out
    assert "Reason: keyCompromise" in out, out
    out = ask(held, "-no_nonce")
    assert ": revoked" in out and "Reason: certificateHold" in out, out
    out = openssl_ocsp("-issuer", issuing, "-serial", "0x7e57fa11", "-url", url, "-CAfile", trust)
    assert "Response verify OK" in out, out
    assert "0x7e57fa11: revoked" in out and "Reason: certificateHold" in out, out
    assert "Jan  1 00:00:00 1970 GMT" in out, out


def test_openssl_root_answers_for_the_issuing_ca(op: OcspPki, app: Flask, server: ServerThread):
    op.presigner.presign_ca(op.store.get_ca(op.pki.root))
    responder_of(app).index.refresh()
    root = op.pem("root.pem", op.pki.cert(op.pki.root))
    issuing = op.pem("issuing-leaf.pem", op.pki.cert(op.pki.issuing))
    out = openssl_ocsp(
        "-issuer",
        root,
        "-cert",
        issuing,
        "-url",
        f"{server.url}/ocsp",
        "-CAfile",
        root,
        "-no_nonce",
    )
    assert "Response verify OK" in out and "issuing-leaf.pem: good" in out, out


# --- fuzzing the request parser -----------------------------------------------------------------


def _check_answer(answer: tuple[str, list[tuple[str, str]], bytes]) -> None:
    status, headers, body = answer
    assert status.split()[0] in ("200", "400", "405", "413"), status
    if status.startswith("200"):
        ocsp.load_der_ocsp_response(body)  # always a well-formed OCSP response


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=400))
def test_fuzz_random_bodies(op: OcspPki, app: Flask, body: bytes):
    _check_answer(responder_of(app).respond(body))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_mutated_requests(op: OcspPki, app: Flask, data: st.DataObject):
    base = bytearray(never_issued_request(op, 0xF00D))
    if data.draw(st.booleans()):
        base = bytearray(base[: data.draw(st.integers(0, len(base)))])
    for _ in range(data.draw(st.integers(0, 4))):
        if base:
            i = data.draw(st.integers(0, len(base) - 1))
            base[i] = data.draw(st.integers(0, 255))
    base += data.draw(st.binary(max_size=8))
    _check_answer(responder_of(app).respond(bytes(base)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.text(max_size=200))
def test_fuzz_get_paths(app: Flask, path: str):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/ocsp/" + path}
    _check_answer(responder_of(app).answer(environ))


def test_status_page_shows_ocsp_freshness(op: OcspPki, app: Flask, client):
    presigned(op, app)
    page = client.get("/status?lang=en").get_data(as_text=True)
    assert 'id="ocsp-freshness"' in page
    assert "issuing-ca" in page.split('id="ocsp-freshness"')[1]
    assert "served at /ocsp" in page or "tersedia di /ocsp" in page


def test_never_issued_unauthorized_by_config(op: OcspPki):
    from tests.ocsp_support import make_runtime

    cfg = make_config(op, str(op.store.engine.url), never_issued="unauthorized")
    responder = make_runtime(op, cfg).ocsp_responder(start_refresh=False)
    _status, _headers, body = responder.respond(never_issued_request(op, 0xABC))
    assert parse(body).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
