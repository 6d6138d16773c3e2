"""NSS (libnss3-tools ``vfychain``) as an independent OCSP client: it fetches the OCSP URL in
the certificate's AIA from our responder over a real socket, accepts a good certificate and
rejects a revoked one. (``-s failIfNoInfo`` is not used: libpkix applies it to the root as well,
which has no OCSP URL, and reports that as "revoked"; the test checks instead that NSS did ask.)"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca_core.issuer import Issuer
from policies.schema import load_profiles
from tests.cli_support import free_port
from tests.ocsp_support import OcspPki, ServerThread, make_app, make_config, sqlite_ocsp_pki


@pytest.fixture(scope="module")
def op(backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OcspPki]:
    yield from sqlite_ocsp_pki(backend, tmp_path_factory.mktemp("ocsp-nss"))


@pytest.fixture(scope="module")
def served(op: OcspPki) -> Iterator[tuple[ServerThread, Issuer]]:
    """The responder on a known port, and an issuer whose certificates point their AIA at it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_app(op, make_config(op, str(op.store.engine.url), index_refresh_seconds=0.2))
    srv = ServerThread(app, port)
    issuer = Issuer(op.store, op.pki.backend, load_profiles(), base_url=base)
    # The responder must be at a URL NSS can reach (loopback), which the S/MIME BR lint calls an
    # internal name: waived for this test's certificates only.
    issuer.lint_waivers = issuer.lint_waivers | {"cabf.internal_domain_name"}
    yield srv, issuer
    srv.close()
    from ocsp.http import responder_of

    responder_of(app).index.stop()


def der(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return path


def nss_db(op: OcspPki) -> Path:
    """An NSS database trusting the root and holding the issuing CA (NSS builds the delegated
    responder's chain from it; certificates given only on vfychain's command line are not
    used for that, and the response is then ignored as unverifiable)."""
    db = op.tmp / "nssdb"
    if not db.exists():
        db.mkdir()
        subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True)
        for nick, trust, name in (
            ("root", "CT,C,C", op.pki.root),
            ("issuing", ",,", op.pki.issuing),
        ):
            path = der(op.tmp / f"{nick}-nss.der", op.pki.cert(name))
            subprocess.run(
                ["certutil", "-A", "-d", db, "-n", nick, "-t", trust, "-i", path], check=True
            )
    return db


def vfychain(op: OcspPki, leaf: x509.Certificate) -> subprocess.CompletedProcess[str]:
    tmp = op.tmp
    return subprocess.run(
        [
            "vfychain", "-d", nss_db(op), "-pp", "-v", "-u", "4",
            "-g", "leaf", "-m", "ocsp",
            der(tmp / "leaf.der", leaf),
            der(tmp / "issuing.der", op.pki.cert(op.pki.issuing)),
            "-t", der(tmp / "root.der", op.pki.cert(op.pki.root)),
        ],
        capture_output=True, text=True, errors="replace", timeout=60,
    )  # fmt: skip


def test_vfychain_accepts_good_and_rejects_revoked(op: OcspPki, served):
    server, issuer = served
    good = op.new_cert(issuer)
    revoked = op.new_cert(issuer)
    for c in (good, revoked):
        op.presigner.presign_certificate(op.pki.issuing, format(c.serial_number, "x"))
    op.pki.revoker.revoke(format(revoked.serial_number, "x"), "keyCompromise", actor="test")
    op.presigner.presign_certificate(op.pki.issuing, format(revoked.serial_number, "x"))
    from ocsp.http import responder_of

    responder = responder_of(server.server.app)
    responder.index.refresh()
    asked: list[bytes] = []
    respond = responder.respond
    responder.respond = lambda der: (asked.append(der), respond(der))[1]  # type: ignore[method-assign]
    ok = vfychain(op, good)
    assert asked, "NSS did not query the responder"
    assert ok.returncode == 0 and "Chain is good!" in ok.stdout + ok.stderr, ok.stdout + ok.stderr
    bad = vfychain(op, revoked)
    out = bad.stdout + bad.stderr
    # -8180 is SEC_ERROR_REVOKED_CERTIFICATE (libpkix labels the chain position oddly).
    assert bad.returncode != 0 and "ERROR -8180" in out, out
