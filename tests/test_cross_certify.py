"""Cross-certification between two psre roots, both directions (issue 21): installation A's
root certifies B's root from B's self-signed certificate and writes a CSR of A's root; B's root
certifies A's root from that CSR. openssl then validates each side's issuing CA from the other
side's root alone, through the cross certificate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.ceremony_support import ISSUING, ROOT, ceremony_file, run_ceremony
from tests.cli_support import PsreEnv

CROSS = """
[[step]]
type = "cross-certify"
title = "Cross-certify the other root"
ca = "{other}"
issuer = "root-ca"
{source} = "{input}"
profile = "cross-certificate"
subject = {{{{ C = "ID", O = "PSrE Uji", CN = "{cn}" }}}}
not_before = {{nb}}
not_after = {{ocsp_na}}
outputs = {{{{ certificate = "out/cross-{other}.pem", reverse_csr = "out/rev-{other}.csr.pem" }}}}
"""


def _hierarchy(root: Path, tag: str) -> PsreEnv:
    """A psre with its own root (CN "PSrE Uji Root <tag>") and issuing CA, by ceremony."""
    env = PsreEnv(root)
    env.run("init", "--no-demo")
    path, _ = ceremony_file(env.root / "h", "psre-dev", ROOT, ISSUING, tag=tag, name="h")
    env.run("ceremony", "run", str(path), "--yes")
    return env


def _verify(anchor: Path, untrusted: Path, leaf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(anchor), "-untrusted", str(untrusted), str(leaf)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[PsreEnv, PsreEnv]:
    return (
        _hierarchy(tmp_path_factory.mktemp("cross-a"), "alpha"),
        _hierarchy(tmp_path_factory.mktemp("cross-b"), "beta"),
    )


def test_two_psre_roots_cross_certify_each_other(pair: tuple[PsreEnv, PsreEnv]):
    a, b = pair
    # A certifies B's root from B's self-signed certificate.
    step = CROSS.format(
        other="root-beta", source="certificate", input=b.root / "h" / "out" / "root.pem",
        cn="PSrE Uji Root beta",
    )  # fmt: skip
    run_ceremony(a, "cross-beta", step, "alpha-root")
    reverse = a.root / "ceremonies" / "out" / "rev-root-beta.csr.pem"
    # B certifies A's root from the CSR A's ceremony wrote (the reverse direction).
    step = CROSS.format(other="root-alpha", source="csr", input=reverse, cn="PSrE Uji Root alpha")
    run_ceremony(b, "cross-alpha", step, "beta-root")

    a_root, b_root = a.root / "h" / "out" / "root.pem", b.root / "h" / "out" / "root.pem"
    a_cross = a.root / "ceremonies" / "out" / "cross-root-beta.pem"  # A → B
    b_cross = b.root / "ceremonies" / "out" / "cross-root-alpha.pem"  # B → A
    for cross, issuer in ((a_cross, a_root), (b_cross, b_root)):
        c = x509.load_pem_x509_certificate(cross.read_bytes())
        i = x509.load_pem_x509_certificate(issuer.read_bytes())
        c.verify_directly_issued_by(i)
        assert c.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    # B's issuing CA from A's root alone (through A's cross certificate), and the other way.
    res = _verify(a_root, a_cross, b.root / "h" / "out" / "issuing.pem")
    assert res.returncode == 0 and res.stdout.strip().endswith(": OK"), res.stdout + res.stderr
    res = _verify(b_root, b_cross, a.root / "h" / "out" / "issuing.pem")
    assert res.returncode == 0 and res.stdout.strip().endswith(": OK"), res.stdout + res.stderr
    # Without the cross certificate there is no path.
    res = _verify(a_root, a_root, b.root / "h" / "out" / "issuing.pem")
    assert res.returncode != 0
