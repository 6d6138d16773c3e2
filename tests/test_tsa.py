"""RFC 3161 TSA: real HTTP checked with `openssl ts`, rejections as TimeStampResp."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import algos, tsp
from cryptography.hazmat.primitives import serialization
from flask import Flask
from werkzeug.serving import make_server

from ca_core.config import Config
from psre.app import create_app
from signing_api.tsa import QUERY_TYPE, REPLY_TYPE, TimeStampResp
from tests.authority_support import WITNESSED
from tests.pki_support import BASE_URL, add_tsa_unit
from tests.signing_support import SigningPki, spki  # noqa: F401

POLICY = "1.3.6.1.5.5.7.13.5"


@pytest.fixture(scope="module")
def app(spki: SigningPki) -> Flask:  # noqa: F811
    app = create_app(Config(database_url="sqlite://", public_base_url=BASE_URL))
    app.config["TESTING"] = True
    app.extensions["psre"] = spki.rt
    return app


@pytest.fixture(scope="module")
def server(app: Flask) -> Iterator[str]:
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def post(url: str, body: bytes, ctype: str = QUERY_TYPE) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.headers["Content-Type"], ex.read()


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def request_der(
    digest: bytes, alg: str = "sha256", *, nonce: int | None = None, cert_req: bool = True, **kw
) -> bytes:
    req = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": alg}),
            "hashed_message": digest,
        },
        "cert_req": cert_req,
        **kw,
    }
    if nonce is not None:
        req["nonce"] = nonce
    return tsp.TimeStampReq(req).dump()


def test_openssl_query_over_http_verifies(spki: SigningPki, server: str, tmp_path: Path):  # noqa: F811
    data = tmp_path / "doc.txt"
    data.write_bytes(b"psre timestamped document " + secrets.token_bytes(8))
    tsq, tsr = tmp_path / "req.tsq", tmp_path / "resp.tsr"
    res = openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(tsq))
    assert res.returncode == 0, res.stderr
    status, ctype, body = post(f"{server}/tsa", tsq.read_bytes())
    assert status == 200 and ctype == REPLY_TYPE
    tsr.write_bytes(body)

    root = spki.root_pem(tmp_path / "root.pem")
    inter = tmp_path / "issuing.pem"
    inter.write_bytes(spki.pki.cert(spki.pki.issuing).public_bytes(serialization.Encoding.PEM))
    res = openssl(
        "ts", "-verify", "-in", str(tsr), "-queryfile", str(tsq),
        "-CAfile", str(root), "-untrusted", str(inter),
    )  # fmt: skip
    assert res.returncode == 0 and "Verification: OK" in res.stdout, res.stdout + res.stderr
    # ... and against the data itself, not only the query.
    res = openssl(
        "ts", "-verify", "-in", str(tsr), "-data", str(data),
        "-CAfile", str(root), "-untrusted", str(inter),
    )  # fmt: skip
    assert "Verification: OK" in res.stdout, res.stdout + res.stderr

    text = openssl("ts", "-reply", "-in", str(tsr), "-text").stdout
    assert "Status: Granted." in text
    assert f"Policy OID: {POLICY}" in text
    assert "Accuracy: 0x01 seconds" in text or "Accuracy: 1 seconds" in text
    assert "Nonce: 0x" in text  # openssl ts -query sends a nonce; we echo it
    assert "PSrE Uji Time-Stamping Authority" in text


def test_nonce_echoed_and_serials_unique(app: Flask):
    client = app.test_client()
    serials = set()
    for _ in range(5):
        nonce = secrets.randbits(64)
        body = request_der(hashlib.sha256(secrets.token_bytes(8)).digest(), nonce=nonce)
        resp = client.post("/tsa", data=body, content_type=QUERY_TYPE)
        assert resp.status_code == 200 and resp.mimetype == REPLY_TYPE
        tsr = tsp.TimeStampResp.load(resp.data)
        assert tsr["status"]["status"].native == "granted"
        info = tsr["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
        assert info["nonce"].native == nonce
        assert info["policy"].native == POLICY
        assert info["serial_number"].native.bit_length() > 64
        serials.add(info["serial_number"].native)
    assert len(serials) == 5


def test_without_cert_req_no_certificates(app: Flask):
    body = request_der(hashlib.sha256(b"x").digest(), cert_req=False)
    resp = app.test_client().post("/tsa", data=body, content_type=QUERY_TYPE)
    sd = tsp.TimeStampResp.load(resp.data)["time_stamp_token"]["content"]
    assert sd["certificates"].native is None
    body = request_der(hashlib.sha256(b"x").digest(), cert_req=True)
    resp = app.test_client().post("/tsa", data=body, content_type=QUERY_TYPE)
    sd = tsp.TimeStampResp.load(resp.data)["time_stamp_token"]["content"]
    assert len(sd["certificates"]) >= 2


@pytest.mark.parametrize(
    ("body", "failure"),
    [
        (request_der(hashlib.sha1(b"x").digest(), "sha1"), "bad_alg"),  # noqa: S324
        (request_der(b"\x00" * 20, "sha256"), "bad_data_format"),
        (request_der(hashlib.sha256(b"x").digest(), req_policy="1.2.3.4"), "unaccepted_policy"),
        (b"\x30\x03\x02\x01", "bad_data_format"),
        (b"not asn.1 at all", "bad_data_format"),
    ],
)
def test_bad_requests_are_rejections(app: Flask, body: bytes, failure: str, tmp_path: Path):
    resp = app.test_client().post("/tsa", data=body, content_type=QUERY_TYPE)
    assert resp.status_code == 200 and resp.mimetype == REPLY_TYPE
    tsr = TimeStampResp.load(resp.data)
    assert tsr["status"]["status"].native == "rejection"
    assert tsr["status"]["fail_info"].native == {failure}
    assert tsr["time_stamp_token"].native is None
    # openssl reads it as a rejection too.
    path = tmp_path / "rej.tsr"
    path.write_bytes(resp.data)
    assert "Status: Rejected." in openssl("ts", "-reply", "-in", str(path), "-text").stdout


def test_wrong_content_type_is_415_and_large_bodies_413(app: Flask):
    resp = app.test_client().post("/tsa", data=b"x", content_type="application/octet-stream")
    assert resp.status_code == 415
    resp = app.test_client().post("/tsa", data=b"\x30" * 5000, content_type=QUERY_TYPE)
    assert resp.status_code == 413


def test_counts_granted_and_rejected(spki: SigningPki, app: Flask):  # noqa: F811
    auth = spki.rt.tsa
    before = dict(auth.stats)
    client = app.test_client()
    client.post("/tsa", data=request_der(hashlib.sha256(b"a").digest()), content_type=QUERY_TYPE)
    client.post("/tsa", data=b"junk", content_type=QUERY_TYPE)
    assert auth.stats["granted"] == before.get("granted", 0) + 1
    assert auth.stats["rejected"] == before.get("rejected", 0) + 1


def test_rotated_and_revoked_units_within_the_recheck(spki: SigningPki):  # noqa: F811
    """A newer TSA certificate takes over, and its revocation hands back to the older one,
    each once the cached choice is re-read (at most a minute)."""
    import datetime as dt

    from signing_api.tsa import UNIT_RECHECK_SECONDS, TimeStampAuthority

    def serial(auth: TimeStampAuthority, at: dt.datetime) -> str:
        return format(auth.unit(at).signer.signing_cert.serial_number, "x")

    # Its own cache; the process's authority is untouched.
    auth = TimeStampAuthority(spki.store, spki.rt.signers, spki.rt.config.tsa)
    t0 = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    assert serial(auth, t0) == spki.tsa.serial_hex
    newer = format(add_tsa_unit(spki.pki).serial_number, "x")
    step = dt.timedelta(seconds=UNIT_RECHECK_SECONDS + 1)
    assert serial(auth, t0 + dt.timedelta(seconds=1)) == spki.tsa.serial_hex  # cached
    assert serial(auth, t0 + step) == newer
    spki.pki.revoker.revoke(newer, "keyCompromise", actor="test", authorisation=WITNESSED)
    assert serial(auth, t0 + 2 * step) == spki.tsa.serial_hex


def test_no_valid_unit_is_a_server_fault(spki: SigningPki):  # noqa: F811
    """After the unit's certificate expired: NoTsaUnitError, a ConfigError (HTTP 500 in the
    API's error mapping), not a request error."""
    import datetime as dt

    from ca_core.errors import ConfigError
    from signing_api.tsa import NoTsaUnitError, TimeStampAuthority

    auth = TimeStampAuthority(spki.store, spki.rt.signers, spki.rt.config.tsa)
    with pytest.raises(NoTsaUnitError) as err:
        auth.unit(dt.datetime.now(dt.UTC) + dt.timedelta(days=400))
    assert isinstance(err.value, ConfigError) and err.value.code == "tsa_unavailable"
