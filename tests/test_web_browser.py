"""End to end, as a person would: Debian's chromium (headless, via chromium-driver and selenium)
against the real ``psre serve`` (gunicorn) on a free port, over a ``psre init`` installation.

Each main page is screenshotted into tests/artifacts/ for a reviewer to look at.
"""

from __future__ import annotations

import base64
import json
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.cli_support import PSRE, REPO, PsreEnv, serving

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
RA, AUDITOR = "rina.ra", "adi.auditor"
PASSWORD = "browser test password"

#: Run inside the installation (its own SoftHSM config): enrol a civil servant, issue their
#: certificate with an HSM key, and sign a PDF with it.
_SIGN_SCRIPT = textwrap.dedent(
    """
    import io, json, sys
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from ca_core.authority import chain
    from ca_core.config import load_config
    from psre.services import Services
    from ca_core.subscribers import Enrolment, enrol, issue_for
    from hsm.pdf_signer import HsmPdfSigner
    from tests.pdf_support import minimal_pdf

    nik = "3273015501900002"
    rt = Services(load_config())
    enrol(rt.store, Enrolment(name="Nur Aisyah", email="nur.aisyah@bandung.go.id", nik=nik,
          agency="Pemerintah Kota Bandung"), actor="e2e")
    issued = issue_for(rt.issuer, rt.backend, key=nik, ca="issuing-ca", actor="e2e")
    stored = rt.store.find_certificate(issued.serial_hex)
    signer = HsmPdfSigner(rt.backend, stored.key_label, issued.certificate,
                          chain(rt.store, "issuing-ca"))
    out = io.BytesIO()
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(minimal_pdf("Surat Keputusan"))),
                     signers.PdfSignatureMetadata(field_name="Tanda Tangan Walikota"),
                     signer=signer, output=out)
    open(sys.argv[1], "wb").write(out.getvalue())
    print(json.dumps({"serial": issued.serial_hex, "nik": nik}))
    rt.close()
    """
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    env = PsreEnv(tmp_path_factory.mktemp("web-e2e"))
    env.run("init")
    pw = env.root / "pw.txt"
    pw.write_text(PASSWORD + "\n")
    env.run("operator", "add", RA, "--role", "ra", "--password-file", str(pw))
    env.run("operator", "add", AUDITOR, "--role", "auditor", "--password-file", str(pw))
    pdf = env.root / "surat-keputusan.pdf"
    res = subprocess.run(
        [PSRE[0], "-c", _SIGN_SCRIPT, str(pdf)],
        cwd=env.root,
        env=env.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    issued = json.loads(res.stdout.strip().splitlines()[-1])
    with serving(env) as base:
        yield {"base": base, "pdf": pdf, "env": env, **issued}


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"):
        opts.add_argument(flag)
    opts.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: webdriver.Chrome, name: str) -> Path:
    """A full-page screenshot (Chrome DevTools captures beyond the viewport)."""
    ARTIFACTS.mkdir(exist_ok=True)
    width, height = driver.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight];"
    )
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, 8000), "scale": 1}
    png = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )["data"]
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(base64.b64decode(png))
    return path


def upload_verdict(driver: webdriver.Chrome, site: dict[str, object]) -> str:
    driver.get(f"{site['base']}/verify")
    driver.find_element(By.ID, "pdf").send_keys(str(site["pdf"]))
    driver.find_element(By.ID, "verify-submit").click()
    return driver.find_element(By.ID, "verdict").get_attribute("data-summary") or ""


def openssl_ocsp(site: dict[str, object]) -> str:
    """The signed certificate's status as ``openssl ocsp`` reads it from the served /ocsp."""
    env: PsreEnv = site["env"]  # type: ignore[assignment]
    work = env.root / "ocsp-check"
    work.mkdir(exist_ok=True)
    for name in ("root-ca", "issuing-ca"):
        with urllib.request.urlopen(f"{site['base']}/ca/{name}.pem") as r:
            (work / f"{name}.pem").write_bytes(r.read())
    (work / "leaf.pem").write_text(
        json.loads(env.run("cert", "show", str(site["serial"]), "--json", "--pem").stdout)["pem"]
    )
    res = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            "issuing-ca.pem",
            "-cert",
            "leaf.pem",
            "-CAfile",
            "root-ca.pem",
            "-url",
            f"{site['base']}/ocsp",
            "-no_nonce",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert "Response verify OK" in res.stderr, res.stderr
    return res.stdout


def sign_in(driver: webdriver.Chrome, site: dict[str, object], name: str) -> None:
    driver.get(f"{site['base']}/console/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    assert driver.find_element(By.ID, "who").text == name


def test_upload_a_signed_pdf_and_read_the_verdict(site, browser):
    browser.get(f"{site['base']}/verify")
    shot(browser, "01-verify-empty")
    assert upload_verdict(browser, site) == "VALID"
    verdict = browser.find_element(By.ID, "verdict")
    assert "Dokumen sah" in verdict.text
    signature = browser.find_element(By.CSS_SELECTOR, "section.signature")
    assert "Nur Aisyah" in signature.text and "Pemerintah Kota Bandung" in signature.text
    assert "berlaku" in signature.find_element(By.CSS_SELECTOR, ".cert-status").text
    shot(browser, "02-verify-valid")


def test_switch_language(site, browser):
    browser.get(f"{site['base']}/repository")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Repositori CA"
    browser.find_element(By.ID, "lang-switch").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "CA repository"
    assert browser.current_url.endswith("/repository")
    assert "How to install" in browser.page_source
    shot(browser, "03-repository-en")
    browser.get(f"{site['base']}/status")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Service status"
    shot(browser, "04-status-en")
    browser.find_element(By.ID, "lang-switch").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Status layanan"


def test_find_a_certificate_revoke_it_and_see_it_revoked(site, browser):
    sign_in(browser, site, RA)
    shot(browser, "05-dashboard")
    browser.find_element(By.ID, "c-certificates").click()
    browser.find_element(By.ID, "q").send_keys(str(site["nik"]))
    unsearched = browser.find_element(By.ID, "results")  # the page lists recent certificates too
    browser.find_element(By.ID, "search-submit").click()
    # Read the rows of the answer, not those of the page it replaces (a stale element otherwise).
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(unsearched))
    rows = browser.find_elements(By.CSS_SELECTOR, "#results a.serial")
    assert [r.text for r in rows] == [site["serial"]]
    shot(browser, "06-certificate-search")
    rows[0].click()
    assert browser.find_element(By.ID, "cert-status").get_attribute("data-status") == "good"
    assert "leaf.pem: good" in openssl_ocsp(site)
    # The reason list is only enabled for a revocation (plain JS on the page).
    Select(browser.find_element(By.ID, "action")).select_by_value("suspend")
    assert not browser.find_element(By.ID, "reason").is_enabled()
    Select(browser.find_element(By.ID, "action")).select_by_value("revoke")
    Select(browser.find_element(By.ID, "reason")).select_by_value("keyCompromise")
    shot(browser, "07-certificate-detail")
    browser.find_element(By.ID, "change-submit").click()
    assert browser.find_element(By.ID, "confirm-reason").text == "keyCompromise"
    shot(browser, "08-revoke-confirm")
    browser.find_element(By.ID, "confirm-submit").click()
    status = browser.find_element(By.ID, "cert-status")
    assert status.get_attribute("data-status") == "revoked"
    assert status.text == "dicabut"
    assert browser.find_element(By.ID, "cert-reason").text == "keyCompromise"
    shot(browser, "09-certificate-revoked")
    # OCSP turns revoked: the worker that revoked re-signs at once, the others reload their
    # index within ocsp.index_refresh_seconds.
    deadline = time.monotonic() + 20
    while "leaf.pem: revoked" not in (answer := openssl_ocsp(site)):
        assert time.monotonic() < deadline, answer
        time.sleep(0.5)
    assert "Reason: keyCompromise" in answer
    # The same signed letter is no longer valid on the public page.
    assert upload_verdict(browser, site) == "INVALID"
    assert "dicabut" in browser.find_element(By.CSS_SELECTOR, ".cert-status").text
    shot(browser, "10-verify-revoked")
    # The subscriber followed the certificate.
    browser.get(f"{site['base']}/console/subscribers")
    assert "REVOKE" in browser.find_element(By.ID, "subscribers").text
    shot(browser, "11-subscribers")


def test_auditor_reads_and_verifies_the_audit_log(site, browser):
    sign_in(browser, site, AUDITOR)
    browser.find_element(By.ID, "c-audit").click()
    browser.find_element(By.ID, "verify-chain").click()
    result = browser.find_element(By.ID, "verify-result")
    assert result.get_attribute("data-ok") == "true", result.text
    assert "Rantai utuh" in result.text
    assert "operator.login" in browser.find_element(By.ID, "audit-events").text
    shot(browser, "12-audit")
    # An auditor has no revocation rights, and the console does not offer them.
    browser.get(f"{site['base']}/console/clients")
    assert "Peran Anda tidak mengizinkan" in browser.find_element(By.ID, "error-message").text
