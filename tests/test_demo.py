"""What `make run` gives a newcomer: `psre init` makes the demo PKI once, and `psre serve`
publishes the CA certificates and the CP/CPS the certificates point at."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.cli_support import PsreEnv, serving


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    env = PsreEnv(tmp_path_factory.mktemp("demo"))
    env.run("init")
    return env


def test_init_makes_the_demo_hierarchy_once(demo):
    again = demo.run("init")
    assert "demo PKI ready: root-ca -> issuing-ca" in again.stdout
    assert "created" not in again.stdout  # nothing made twice
    cas = json.loads(demo.run("ca", "list", "--json").stdout)
    assert [(c["name"], c["parent"]) for c in cas] == [("root-ca", None), ("issuing-ca", "root-ca")]
    keys = json.loads(demo.run("hsm", "list", "--json").stdout)
    # The demo ceremonies also make a delegated OCSP responder and a TSA (labels carry the run's
    # stamp, so a later renewal ceremony never collides with them).
    labels = {k["label"] for k in keys}
    assert {"demo-root-ca", "demo-issuing-ca"} <= labels and len(labels) == 4
    assert sum(label.startswith("demo-ocsp-issuing-ca-") for label in labels) == 1
    assert sum(label.startswith("demo-tsa-") for label in labels) == 1
    assert all(k["sensitive"] and not k["extractable"] for k in keys)
    demo.run("ca", "export", "root-ca", "--out", "root.pem")
    demo.run("ca", "export", "issuing-ca", "--out", "chain.pem")
    res = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "chain.pem"],
        cwd=demo.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.stdout.strip().endswith(": OK"), res.stdout + res.stderr
    assert demo.run("audit", "verify").returncode == 0


def test_serve_publishes_ca_certificates_and_the_cps(demo):
    with serving(demo) as base:
        with urllib.request.urlopen(f"{base}/ca/issuing-ca.crt", timeout=5) as r:  # noqa: S310
            assert r.headers["Content-Type"] == "application/pkix-cert"
            etag = r.headers["ETag"]
            cert = x509.load_der_x509_certificate(r.read())
        assert cert.subject.rfc4514_string() == "CN=PSrE Demo Issuing CA,O=PSrE Demo,C=ID"
        req = urllib.request.Request(f"{base}/ca/issuing-ca.crt", headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)  # noqa: S310 - 304 raises in urllib
        assert err.value.code == 304
        with urllib.request.urlopen(f"{base}/cps", timeout=5) as r:  # noqa: S310
            page = r.read().decode()
        assert "7.1" in page and "natural-person" in page
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/ca/nope.crt", timeout=5)  # noqa: S310
        assert err.value.code == 404


def test_serve_publishes_the_demo_crls_and_openssl_checks_with_them(demo):
    """gunicorn (psre serve, scheduler on) serves the CRLs psre init published."""
    with serving(demo) as base:
        pems = []
        for name in ("root-ca", "issuing-ca"):
            with urllib.request.urlopen(f"{base}/crl/{name}.crl", timeout=5) as r:  # noqa: S310
                assert r.headers["Content-Type"] == "application/pkix-crl"
                assert "max-age=" in r.headers["Cache-Control"] and r.headers["ETag"]
                crl = x509.load_der_x509_crl(r.read())
            pems.append(crl.public_bytes(serialization.Encoding.PEM))
        (demo.root / "crls.pem").write_bytes(b"".join(pems))
        demo.run("ca", "export", "root-ca", "--out", "root.pem")
        demo.run("ca", "export", "issuing-ca", "--out", "chain.pem")
        res = subprocess.run(
            ["openssl", "verify", "-crl_check", "-CRLfile", "crls.pem", "-CAfile", "root.pem",
             "chain.pem"],
            cwd=demo.root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert res.stdout.strip().endswith(": OK"), res.stdout + res.stderr
