"""The root's CRL (ARL) made by a ``root-crl`` step of a key ceremony on the real token."""

from __future__ import annotations

import datetime as dt
import subprocess

from cryptography import x509

from ca_core import lint
from ceremony_scripts import spec
from ceremony_scripts.runner import UNATTENDED, Custody, run
from ceremony_scripts.verify import verify
from crl.publish import crl_for_certificate, newest_crl
from policies.schema import load_profiles
from tests.ceremony_support import ISSUING, ROOT, ceremony_file
from tests.pki_support import BASE_URL

ROOT_CRL = """
[[step]]
type = "root-crl"
title = "Root CRL"
issuer = "{root}"
next_update = "2027-01-31T00:00:00Z"
outputs = {{ crl = "out/root.crl" }}
"""


class _Ui:
    def echo(self, text: str) -> None:
        pass

    def acknowledge(self, witness, step, summary) -> bool:  # noqa: ANN001
        raise AssertionError("unattended runs never ask")


def test_root_crl_step_signs_a_lint_clean_arl_from_the_file(tmp_path, store, backend, token):
    path, _ = ceremony_file(tmp_path, token.label, ROOT, ISSUING, ROOT_CRL)
    profiles = load_profiles()
    result = run(
        spec.load(path),
        store=store,
        backend=backend,
        profiles=profiles,
        base_url=BASE_URL,
        ui=_Ui(),
        custody=Custody(UNATTENDED),
        unattended=True,
    )
    der = (tmp_path / "out" / "root.crl").read_bytes()
    crl = x509.load_der_x509_crl(der)
    root = x509.load_pem_x509_certificate((tmp_path / "out" / "root.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((tmp_path / "out" / "issuing.pem").read_bytes())
    assert crl.is_signature_valid(root.public_key())
    assert crl.issuer.public_bytes() == root.subject.public_bytes()
    assert crl.next_update_utc == dt.datetime(2027, 1, 31, tzinfo=dt.UTC)
    assert len(crl) == 0
    assert lint.blocking(lint.lint_crl(der)) == []
    # Recorded as the root's published CRL: the ARL the issuing CA's certificate is checked with.
    info = newest_crl(store, "root-ca", "full")
    assert info is not None and info.sha256 == result.produced[-1]["sha256"]
    assert crl_for_certificate(store, issuing) == der
    # openssl reads it.
    crl_file = str(tmp_path / "out" / "root.crl")
    out = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-noout", "-text", "-in", crl_file],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "X509v3 CRL Number" in out and "No Revoked Certificates" in out
    # The transcript, with the CRL among its outputs, still verifies.
    rep = verify(result.transcript, backend=backend, profiles=profiles)
    assert all(c.ok for c in rep.checks), [(c.name, c.detail) for c in rep.checks if not c.ok]
