"""What `make run` gives a newcomer: `psre init` makes the demo PKI once, and `psre serve`
publishes the CA certificates and the CP/CPS the certificates point at."""

from __future__ import annotations

import json
import secrets
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


def assert_chain_verifies(env: PsreEnv) -> None:
    """openssl verifies the exported issuing CA against the exported root."""
    env.run("ca", "export", "root-ca", "--out", "root.pem")
    env.run("ca", "export", "issuing-ca", "--out", "chain.pem")
    res = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "chain.pem"],
        cwd=env.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.stdout.strip().endswith(": OK"), res.stdout + res.stderr


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
    assert_chain_verifies(demo)
    assert demo.run("audit", "verify").returncode == 0


def test_serve_publishes_ca_certificates_and_the_cps(demo):
    with serving(demo) as base:
        with urllib.request.urlopen(f"{base}/ca/issuing-ca.crt", timeout=5) as r:
            assert r.headers["Content-Type"] == "application/pkix-cert"
            etag = r.headers["ETag"]
            cert = x509.load_der_x509_certificate(r.read())
        assert cert.subject.rfc4514_string() == "CN=PSrE Demo Issuing CA,O=PSrE Demo,C=ID"
        req = urllib.request.Request(f"{base}/ca/issuing-ca.crt", headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 304
        with urllib.request.urlopen(f"{base}/cps", timeout=5) as r:
            page = r.read().decode()
        assert "7.1" in page and "natural-person" in page
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/ca/nope.crt", timeout=5)
        assert err.value.code == 404


def test_serve_publishes_the_demo_crls_and_openssl_checks_with_them(demo):
    """gunicorn (psre serve, scheduler on) serves the CRLs psre init published."""
    with serving(demo) as base:
        pems = []
        for name in ("root-ca", "issuing-ca"):
            with urllib.request.urlopen(f"{base}/crl/{name}.crl", timeout=5) as r:
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


def test_init_killed_half_way_through_a_demo_ceremony_is_finished_by_the_next(tmp_path):
    # `make run` interrupted (here: the process dies right after the HSM signed the root's own
    # certificate, before it was stored) must not leave an installation the next `make run`
    # refuses: the half-made demo CA and its key are removed, audited, and the ceremony redone.
    env = PsreEnv(tmp_path)
    env.extra_env["PSRE_FAULT"] = "after_hsm_sign"
    crashed = env.run("init", check=False)
    assert crashed.returncode == 86, crashed.stdout + crashed.stderr
    env.extra_env.pop("PSRE_FAULT")
    again = env.run("init")
    assert (
        "stopped half-way through the demo root CA 'root-ca' ceremony: removed CA record "
        "'root-ca' (no certificate), key 'demo-root-ca'"
    ) in again.stdout
    assert "demo PKI ready: root-ca -> issuing-ca" in again.stdout
    assert env.run("audit", "verify").returncode == 0
    events = json.loads(env.run("audit", "show", "--json", "--limit", "200").stdout)
    assert sum(e["action"] == "demo.resume" for e in events) == 2
    assert_chain_verifies(env)


def test_clearing_a_half_made_issuing_ca_keeps_everything_certified(store, backend):
    # The issuing ceremony's leftovers: its key on the token and a CA record without a
    # certificate. They go; a certified CA, its key and other keys stay.
    from ceremony_scripts.demo import _clear_interrupted
    from hsm.backend import KeySpec
    from tests.pki_support import build_pki

    pki = build_pki(store, backend)
    label = f"demo-issuing-ca-{secrets.token_hex(3)}"
    backend.generate(label, KeySpec.EC_P384)
    root = store.get_ca(pki.root)
    store.add_ca("half-made", "CN=Half", label, "ec-p384", parent_id=root.id)
    said: list[str] = []
    _clear_interrupted(store, backend, "half-made", label, "demo issuing CA", said.append)
    assert said and "removed CA record 'half-made' (no certificate), key '" in said[0]
    assert label not in {k.label for k in backend.list_keys()}
    assert [c.name for c in store.list_cas()] == [pki.root, pki.issuing]
    # A certified CA's key is never touched, even when asked about it.
    _clear_interrupted(
        store, backend, pki.issuing, store.get_ca(pki.issuing).key_label, "x", said.append
    )
    assert len(said) == 1
    assert store.get_ca(pki.issuing).key_label in {k.label for k in backend.list_keys()}
    assert store.audit.verify().ok
