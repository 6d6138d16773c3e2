"""NSS (Firefox, Thunderbird, poppler) as a relying party of a real psre installation.

``psre init`` on a port chosen beforehand, so that the certificates' AIA (OCSP, caIssuers) and
CRL DP point at the ``psre serve`` the test then runs there; subscribers enrolled and certified
and PDFs signed with the ``psre`` command; an NSS database (certutil) holding the root and the
issuing CA fetched from the repository URLs, the root trusted for e-mail (NSS validates document
signers with its e-mail-signer usage). Then, with NSS fetching live OCSP and CRLs from psre:

* ``pdfsig -nssdir`` on PDFs signed at B-B, B-T, B-LT and B-LTA, invisible, visible, with a QR
  code, and as an agency seal: "Signature is Valid" and "Certificate is Trusted";
* ``vfychain -u 4 -g leaf -m ocsp|crl -s failIfNoInfo`` (leaf status from our responder or our
  CRL, an answer required): "Chain is good!" for a good signer and a seal, and
  SEC_ERROR_REVOKED_CERTIFICATE (-8180) once ``psre revoke`` has revoked one; pdfsig then says
  "Certificate has been Revoked".

Before psre's signing profiles carried emailProtection, every one of these said "Unknown issue
with Certificate" (pdfsig) or "ERROR -8101: Certificate type not approved" (vfychain).
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.cli_support import PsreEnv, choose_passphrase_in_app, free_port, serving
from tests.pdf_support import minimal_pdf

SIGNER = ("3174051203900001", "Rina Wulandari", "rina.wulandari@kemenkeu.go.id")
TO_REVOKE = ("3174051203900002", "Budi Santoso", "budi.santoso@kemenkeu.go.id")
AGENCY = ("NTRID-1234567890123", "Kementerian Keuangan", "sekretariat@kemenkeu.go.id")
PASSPHRASE = "tanda-tangan-sendiri-2026"

#: name → (subscriber, PAdES level, appearance options of `psre pdf sign`)
CASES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "B-B-invisible": (SIGNER[0], "B-B", ()),
    "B-T-visible": (SIGNER[0], "B-T", ("--page", "-1", "--box", "300,50,540,130")),
    "B-LT-qr": (SIGNER[0], "B-LT", ("--tag", "#", "--qr-url", "https://psre.example.id/v/1")),
    "B-LTA-seal-visible": (AGENCY[0], "B-LTA", ("--page", "1", "--box", "60,60,260,140")),
    "B-LT-seal-invisible": (AGENCY[0], "B-LT", ()),
}
#: SEC_ERROR_REVOKED_CERTIFICATE (libpkix names the chain position oddly: the root).
REVOKED = "ERROR -8180"


@dataclass
class Site:
    env: PsreEnv
    url: str
    nss: str  # "sql:<dir>"
    pdfs: dict[str, Path]
    leaves: dict[str, Path]  # subscriber key → DER certificate
    serials: dict[str, str]


def _subscribers(env: PsreEnv) -> dict[str, str]:
    """Enrol and certify the three subscribers; their certificates' serials."""
    serials = {}
    # Each signer (and the agency, for its seal) chooses their own passphrase with the code
    # psre sends them: without it, ``psre pdf sign`` signs for nobody (sole control).
    for nik, name, email in (SIGNER, TO_REVOKE):
        env.run("subscriber", "add", "--nik", nik, "--name", name, "--email", email,
                "--agency", "Kementerian Keuangan")  # fmt: skip
        choose_passphrase_in_app(env, email, PASSPHRASE)
    org, name, email = AGENCY
    env.run("subscriber", "add", "--org-id", org, "--name", name, "--email", email)
    choose_passphrase_in_app(env, email, PASSPHRASE)
    (env.root / "passphrase.txt").write_text(PASSPHRASE + "\n")
    for key, profile in ((SIGNER[0], "natural-person"), (TO_REVOKE[0], "natural-person"),
                         (org, "legal-person-seal")):  # fmt: skip
        out = env.run("issue", "--profile", profile, "--subscriber", key,
                      "--out", f"{key}.pem").stdout  # fmt: skip
        serials[key] = re.search(r"serial ([0-9a-f]+)", out).group(1)  # type: ignore[union-attr]
    return serials


def _der(env: PsreEnv, key: str) -> Path:
    pem = (env.root / f"{key}.pem").read_bytes()
    path = env.root / f"{key}.der"
    path.write_bytes(x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER))
    return path


def nss_database(directory: Path, url: str) -> str:
    """An NSS database holding our root (trusted for e-mail: the trust NSS's e-mail-signer
    usage asks of a document signer's anchor) and the issuing CA (untrusted; NSS builds the
    delegated OCSP responder's chain from it), both fetched from psre's repository."""
    directory.mkdir()
    db = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True)
    for name, trust in (("root-ca", ",C,"), ("issuing-ca", ",,")):
        with urllib.request.urlopen(f"{url}/ca/{name}.crt", timeout=30) as r:
            (directory / f"{name}.der").write_bytes(r.read())
        subprocess.run(
            ["certutil", "-A", "-d", db, "-n", name, "-t", trust,
             "-i", str(directory / f"{name}.der")],
            check=True,
        )  # fmt: skip
    return db


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A short OCSP index refresh: a revocation by another process shows within a second.
    env = PsreEnv(
        tmp_path_factory.mktemp("nss-rp"),
        {"PSRE_PUBLIC_BASE_URL": url, "PSRE_OCSP_INDEX_REFRESH_SECONDS": "0.5"},
    )
    env.run("init")
    serials = _subscribers(env)
    doc = env.root / "surat.pdf"
    doc.write_bytes(minimal_pdf("Surat Keputusan, ditandatangani: #"))
    pdfs = {}
    for case, (key, level, extra) in {
        **CASES,
        "revoked-signer": (TO_REVOKE[0], "B-B", ()),
    }.items():
        pdfs[case] = env.root / f"{case}.pdf"
        env.run("pdf", "sign", str(doc), "--subscriber", key, "--level", level,
                "--passphrase-file", str(env.root / "passphrase.txt"),
                "--out", str(pdfs[case]), *extra)  # fmt: skip
    leaves = {key: _der(env, key) for key in serials}
    with serving(env, port=port):
        yield Site(env, url, nss_database(env.root / "nss", url), pdfs, leaves, serials)


def pdfsig(site: Site, pdf: Path) -> dict[str, str]:
    """pdfsig's report on the first signature (the CMS one; B-LTA's document timestamp follows,
    and poppler does not validate RFC 3161 document timestamps), as field → value."""
    res = subprocess.run(
        ["pdfsig", "-nssdir", site.nss, str(pdf)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    first = (res.stdout + res.stderr).split("Signature #2:")[0]
    return dict(re.findall(r"^ *- ([^:\n]+): (.*)$", first, re.MULTILINE))


def vfychain(site: Site, key: str, method: str) -> str:
    """NSS's verdict on a leaf for the e-mail-signer usage, its status from ``method`` only
    (fetched from the URL in the certificate), an answer required (failIfNoInfo)."""
    res = subprocess.run(
        ["vfychain", "-d", site.nss, "-pp", "-v", "-u", "4",
         "-g", "leaf", "-m", method, "-s", "failIfNoInfo", str(site.leaves[key])],
        capture_output=True, text=True, errors="replace", timeout=120, check=False,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert ("Chain is good!" in out) == (res.returncode == 0), out
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_pdfsig_says_valid_and_trusted(site: Site, case: str) -> None:
    report = pdfsig(site, site.pdfs[case])
    signer = AGENCY[1] if CASES[case][0] == AGENCY[0] else SIGNER[1]
    assert report["Signer Certificate Common Name"] == signer, report
    assert report["Signature Validation"] == "Signature is Valid.", report
    assert report["Certificate Validation"] == "Certificate is Trusted.", report


@pytest.mark.parametrize("method", ["ocsp", "crl"])
def test_vfychain_accepts_good_signer_and_seal_with_live_status(site: Site, method: str) -> None:
    for key in (SIGNER[0], AGENCY[0]):
        out = vfychain(site, key, method)
        assert "Chain is good!" in out, out


def test_revoked_signer_is_refused_by_ocsp_crl_and_pdfsig(site: Site) -> None:
    key = TO_REVOKE[0]
    assert "Chain is good!" in vfychain(site, key, "ocsp")
    assert pdfsig(site, site.pdfs["revoked-signer"])["Certificate Validation"] == (
        "Certificate is Trusted."
    )
    site.env.run("revoke", site.serials[key], "--reason", "keyCompromise")
    # The revoking process re-signs the CRL and the OCSP responses at once; the server's
    # OCSP index picks them up within its refresh interval.
    deadline = time.monotonic() + 30
    while REVOKED not in (out := vfychain(site, key, "ocsp")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "Chain is bad!" in out and REVOKED in out, out
    crl = vfychain(site, key, "crl")
    assert "Chain is bad!" in crl and REVOKED in crl, crl
    report = pdfsig(site, site.pdfs["revoked-signer"])
    assert report["Signature Validation"] == "Signature is Valid.", report
    assert report["Certificate Validation"] == "Certificate has been Revoked.", report
    # The others are untouched.
    assert "Chain is good!" in vfychain(site, SIGNER[0], "ocsp")
