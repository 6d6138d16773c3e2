"""The issuance CLI as scripts use it (issue 3, "Interfaces that scripts rely on"): real ``psre``
processes on a SoftHSM token and SQLite, CSRs made by openssl and by cryptography, and every
output checked with independent tools — ``openssl verify`` up to the exported root, pkilint's
own command-line linters, ``openssl x509`` for serials, keys and URLs, and ``psre audit verify``.

One initialised installation serves the module; each test uses its own keys, NIKs and mailboxes
so the tests do not depend on each other's order (the audit test last sums them all up).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ca_core.config import SOFTHSM_MODULE
from tests.cli_support import PsreEnv

# A public-looking base URL: pkilint's ETSI and S/MIME linters reject internal names and
# non-http CRL/AIA URLs, and psre waives nothing for a non-loopback base URL.
BASE_URL = "http://pki.psre-uji.id"
BIN = Path(sys.executable).parent  # pkilint's console scripts live next to the interpreter
ISSUED_RE = re.compile(r"issued (\S+) certificate serial ([0-9a-f]+) by (\S+)")


@dataclass
class Inst:
    env: PsreEnv
    root_pem: Path
    chain_pem: Path

    @property
    def dir(self) -> Path:
        return self.env.root

    def psre(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.env.run(*args, check=check)


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Inst:
    env = PsreEnv(tmp_path_factory.mktemp("psre-issuance"), {"PSRE_PUBLIC_BASE_URL": BASE_URL})
    out = env.run("init")
    assert "demo PKI ready: root-ca -> issuing-ca" in out.stdout
    root, chain = env.root / "root.pem", env.root / "chain.pem"
    env.run("ca", "export", "root-ca", "--out", str(root))
    env.run("ca", "export", "issuing-ca", "--out", str(chain))
    return Inst(env, root, chain)


# -- independent tools -----------------------------------------------------------------------------
def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=120, check=False
    )


def openssl(*args: str | Path) -> str:
    res = run("openssl", *args)
    assert res.returncode == 0, f"openssl {args}: {res.stderr}"
    return res.stdout


def openssl_der_of_csr(csr: Path) -> bytes:
    res = subprocess.run(
        ["openssl", "req", "-in", str(csr), "-outform", "DER"], capture_output=True, check=True
    )
    return res.stdout


def openssl_verify(inst: Inst, cert: Path) -> None:
    res = run("openssl", "verify", "-CAfile", inst.root_pem, "-untrusted", inst.chain_pem, cert)
    assert res.returncode == 0 and res.stdout.strip() == f"{cert}: OK", res.stdout + res.stderr


def pkilint(tool: str, cert: Path, *opts: str) -> str:
    """Run one of pkilint's CLIs; its exit status is the number of ERROR/FATAL findings."""
    res = run(BIN / tool, "lint", "-s", "ERROR", *opts, cert)
    assert res.returncode == 0, f"{tool} {cert.name}:\n{res.stdout}\n{res.stderr}"
    return res.stderr  # -o prints the detected certificate type here


def pkcs11_tool(inst: Inst, *args: str) -> str:
    """OpenSC's pkcs11-tool on the installation's SoftHSM token (user PIN from its secrets)."""
    var = inst.dir / "var"
    pin = (var / "secrets" / "hsm-user.pin").read_text().strip()
    res = subprocess.run(
        ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", "psre-dev", "--login",
         "--pin", pin, *args],
        env={**os.environ, "SOFTHSM2_CONF": str(var / "softhsm2.conf")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout


def openssl_serial(cert: Path) -> str:
    """``serial=ABCD…`` exactly as ``openssl x509 -serial`` prints it."""
    return openssl("x509", "-in", cert, "-noout", "-serial").strip()


def hex_of(serial_line: str) -> str:
    """psre's form of a serial: lower-case hex without the leading zero openssl may print."""
    return format(int(serial_line.split("=", 1)[1], 16), "x")


def validity(cert: Path) -> dt.timedelta:
    """notAfter - notBefore + 1 s (RFC 5280 validity is inclusive), read by openssl."""
    out = openssl("x509", "-in", cert, "-noout", "-startdate", "-enddate", "-dateopt", "iso_8601")
    dates = dict(line.split("=", 1) for line in out.splitlines())
    start = dt.datetime.fromisoformat(dates["notBefore"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(dates["notAfter"].replace("Z", "+00:00"))
    return end - start + dt.timedelta(seconds=1)


def uris(cert: Path) -> list[str]:
    return re.findall(r"(?:URI|CPS): ?(\S+)", openssl("x509", "-in", cert, "-noout", "-text"))


# -- requests --------------------------------------------------------------------------------------
def openssl_csr(where: Path, name: str, subj: str, *, san: str | None, newkey: list[str]) -> Path:
    csr, key = where / f"{name}.csr", where / f"{name}.key"
    args = ["req", "-new", *newkey, "-nodes", "-keyout", str(key), "-subj", subj, "-out", str(csr)]
    if san:
        args += ["-addext", f"subjectAltName={san}"]
    openssl(*args)
    return csr


def p256_csr(where: Path, name: str, subj: str, san: str | None = None) -> Path:
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    return openssl_csr(where, name, subj, san=san, newkey=newkey)


def crypto_csr(
    where: Path,
    name: str,
    attrs: list[tuple[x509.ObjectIdentifier, str]],
    emails: Sequence[str] = (),
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
) -> Path:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])
    )
    if emails:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(e) for e in emails]), critical=False
        )
    csr = builder.sign(key, hashes.SHA256())
    path = where / f"{name}.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def issue(inst: Inst, profile: str, out: Path, *args: str) -> str:
    """Issue through the CLI; returns the serial the CLI reports (lower-case hex)."""
    res = inst.psre("issue", "--profile", profile, *args, "--out", str(out))
    m = ISSUED_RE.search(res.stdout)
    assert m and m.group(1) == profile and m.group(3) == "issuing-ca", res.stdout
    return m.group(2)


def assert_refused(res: subprocess.CompletedProcess[str], reason: str, out: Path | None = None):
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"psre: error: {reason}" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    if out is not None:
        assert not out.exists()


def cert_show(inst: Inst, serial: str) -> dict:
    return json.loads(inst.psre("cert", "show", serial, "--json").stdout)


def subscriber(inst: Inst, nik: str) -> dict:
    return json.loads(inst.psre("subscriber", "show", nik, "--json").stdout)


# -- psre ca ---------------------------------------------------------------------------------------
def test_ca_list_and_export_chain_up_to_the_root(inst):
    cas = {c["name"]: c for c in json.loads(inst.psre("ca", "list", "--json").stdout)}
    assert cas["root-ca"]["parent"] is None
    assert cas["issuing-ca"]["parent"] == "root-ca"
    text = inst.psre("ca", "list").stdout
    assert "root-ca (root): CN=PSrE Demo Root CA" in text
    assert "issuing-ca (under root-ca): CN=PSrE Demo Issuing CA" in text

    # CHAIN.pem = the CA's certificate, then its parents up to the root, in that order.
    pems = re.findall(
        r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----",
        inst.chain_pem.read_text(),
        re.S,
    )
    assert len(pems) == 2
    names, fps = [], []
    for i, pem in enumerate(pems):
        one = inst.dir / f"chain-{i}.pem"
        one.write_text(pem + "\n")
        names.append(openssl("x509", "-in", one, "-noout", "-subject", "-nameopt", "RFC2253"))
        fp = openssl("x509", "-in", one, "-noout", "-fingerprint", "-sha256")
        fps.append(fp.split("=", 1)[1].strip().replace(":", "").lower())
    assert "CN=PSrE Demo Issuing CA" in names[0] and "CN=PSrE Demo Root CA" in names[1]
    assert fps == [cas["issuing-ca"]["fingerprint_sha256"], cas["root-ca"]["fingerprint_sha256"]]
    assert inst.root_pem.read_text().strip() == pems[1]
    openssl_verify(inst, inst.dir / "chain-0.pem")  # the issuing CA, by the root
    for ca in ("chain-0.pem", "chain-1.pem"):
        pkilint("lint_pkix_cert", inst.dir / ca)

    out = inst.dir / "nope-chain.pem"
    res = inst.psre("ca", "export", "nope", "--out", str(out), check=False)
    assert_refused(res, "no CA named 'nope'", out)


# -- psre issue --csr ------------------------------------------------------------------------------
def test_issue_smime_from_an_openssl_csr(inst):
    csr = p256_csr(inst.dir, "alice", "/CN=alice@setjen.go.id", "email:alice@setjen.go.id")
    out = inst.dir / "alice.pem"
    serial = issue(inst, "smime-mailbox", out, "--csr", str(csr))

    openssl_verify(inst, out)
    assert hex_of(openssl_serial(out)) == serial
    # The certificate certifies the key of the request, nothing else.
    assert openssl("x509", "-in", out, "-noout", "-pubkey") == openssl(
        "req", "-in", csr, "-noout", "-pubkey"
    )
    pkilint("lint_pkix_cert", out)
    assert pkilint("lint_cabf_smime_cert", out, "-d", "-o").strip() == "MAILBOX-STRICT"
    found = uris(out)
    assert f"{BASE_URL}/ocsp" in found and f"{BASE_URL}/crl/issuing-ca.crl" in found
    assert f"{BASE_URL}/ca/issuing-ca.crt" in found
    assert all(u.startswith(BASE_URL) for u in found)

    shown = cert_show(inst, serial)
    fp = openssl("x509", "-in", out, "-noout", "-fingerprint", "-sha256")
    assert shown["fingerprint_sha256"] == fp.split("=", 1)[1].strip().replace(":", "").lower()
    assert shown | {"status": "good", "profile": "smime-mailbox", "issuer": "issuing-ca"} == shown
    assert shown["san"] == ["email:alice@setjen.go.id"] and shown["key_label"] is None
    assert "status               good" in inst.psre("cert", "show", serial).stdout


NIK_CSR = "3273014506880002"


@pytest.mark.parametrize(
    ("profile", "attrs", "emails", "key", "etsi_type"),
    [
        (
            "natural-person",
            [
                (NameOID.COUNTRY_NAME, "ID"),
                (NameOID.ORGANIZATION_NAME, "Badan Siber dan Sandi Negara"),
                (NameOID.GIVEN_NAME, "Dewi"),
                (NameOID.SURNAME, "Lestari"),
                (NameOID.SERIAL_NUMBER, f"PNOID-{NIK_CSR}"),
                (NameOID.COMMON_NAME, "Dewi Lestari"),
            ],
            ["dewi.lestari@bssn.go.id"],
            "rsa-2048",
            "NCP-NATURAL-PERSON-CERTIFICATE",
        ),
        (
            "legal-person-seal",
            [
                (NameOID.COUNTRY_NAME, "ID"),
                (NameOID.ORGANIZATION_NAME, "Kementerian Dalam Negeri"),
                (NameOID.ORGANIZATION_IDENTIFIER, "NTRID-0123456789"),
                (NameOID.COMMON_NAME, "Kementerian Dalam Negeri"),
            ],
            [],
            "ec-p256",
            "NCP-LEGAL-PERSON-CERTIFICATE",
        ),
        (
            "ocsp-signer",
            [
                (NameOID.COUNTRY_NAME, "ID"),
                (NameOID.ORGANIZATION_NAME, "PSrE Demo"),
                (NameOID.COMMON_NAME, "PSrE Demo OCSP Responder"),
            ],
            [],
            "ec-p256",
            None,
        ),
        (
            "tsa",
            [
                (NameOID.COUNTRY_NAME, "ID"),
                (NameOID.ORGANIZATION_NAME, "PSrE Demo"),
                (NameOID.COMMON_NAME, "PSrE Demo TSA"),
            ],
            [],
            "ec-p256",
            None,
        ),
    ],
)
def test_issue_each_profile_from_a_cryptography_csr(inst, profile, attrs, emails, key, etsi_type):
    private = (
        rsa.generate_private_key(65537, 2048)
        if key == "rsa-2048"
        else ec.generate_private_key(ec.SECP256R1())
    )
    csr = crypto_csr(inst.dir, f"csr-{profile}", attrs, emails, private)
    out = inst.dir / f"{profile}.pem"
    serial = issue(inst, profile, out, "--csr", str(csr))

    openssl_verify(inst, out)
    assert hex_of(openssl_serial(out)) == serial
    assert openssl("x509", "-in", out, "-noout", "-pubkey") == openssl(
        "req", "-in", csr, "-noout", "-pubkey"
    )
    pkilint("lint_pkix_cert", out)
    if etsi_type:
        assert pkilint("lint_etsi_cert", out, "-d", "-o").strip() == etsi_type
    assert all(u.startswith(BASE_URL) for u in uris(out))
    text = openssl("x509", "-in", out, "-noout", "-text")
    if profile == "ocsp-signer":
        assert "OCSP Signing" in text and "OCSP No Check" in text
    if profile == "tsa":
        assert re.search(r"Extended Key Usage: critical\s+Time Stamping", text)
    if profile == "natural-person":
        subject = openssl("x509", "-in", out, "-noout", "-subject", "-nameopt", "RFC2253")
        assert f"serialNumber=PNOID-{NIK_CSR}" in subject
    assert cert_show(inst, serial)["profile"] == profile


# -- psre subscriber -------------------------------------------------------------------------------
NIK = "3171014708900003"
PASSPHRASE = "kata-sandi-rahasia-42"


@pytest.fixture(scope="module")
def enrolled(inst) -> str:
    res = inst.psre(
        "subscriber",
        "add",
        "--nik",
        NIK,
        "--name",
        "Rina Wulandari",
        "--email",
        "rina.wulandari@kemendagri.go.id",
        "--agency",
        "Kementerian Dalam Negeri",
    )
    first, sent = res.stdout.splitlines()
    assert first == f"enrolled person {NIK}: status NEW"
    assert sent.startswith("activation code sent to rina.wulandari@kemendagri.go.id")
    return NIK


def test_subscriber_add_show_list(inst, enrolled):
    shown = subscriber(inst, enrolled)
    assert shown == {
        "nik": NIK,
        "organization_identifier": None,
        "kind": "person",
        "name": "Rina Wulandari",
        "email": "rina.wulandari@kemendagri.go.id",
        "agency": "Kementerian Dalam Negeri",
        "status": shown["status"],  # NEW until the first certificate (order-independent)
        "has_passphrase": False,  # until the subscriber sets it with their enrolment code
    }
    assert shown["status"] in ("NEW", "ISSUE", "SUSPEND", "REVOKE")
    assert f"nik                      {NIK}" in inst.psre("subscriber", "show", NIK).stdout
    listed = json.loads(inst.psre("subscriber", "list", "--json").stdout)
    assert [s for s in listed if s["nik"] == NIK] == [shown]
    assert re.search(
        rf"^{NIK}\s+\S+\s+Rina Wulandari <rina.wulandari@kemendagri.go.id>$",
        inst.psre("subscriber", "list").stdout,
        re.M,
    )
    # The operator cannot give a subscriber a passphrase (sole control): the option is gone.
    pp = inst.dir / "passphrase.txt"
    pp.write_text(PASSPHRASE + "\n")
    other = "3171010101010104"
    refused = inst.psre(
        "subscriber", "add", "--nik", other, "--name", "Agus", "--email", "agus@bps.go.id",
        "--agency", "Badan Pusat Statistik", "--passphrase-file", str(pp), check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "--passphrase-file" in refused.stderr
    events = inst.psre("audit", "show", "--action", "subscriber.enrolment_sent", "--json").stdout
    assert f"subscriber:{NIK}" in events

    again = inst.psre(
        "subscriber", "add", "--nik", NIK, "--name", "Someone Else",
        "--email", "x@kemendagri.go.id", "--agency", "Kementerian Dalam Negeri", check=False,
    )  # fmt: skip
    assert_refused(again, f"subscriber with NIK {NIK} already exists")
    assert subscriber(inst, NIK)["name"] == "Rina Wulandari"


@pytest.fixture(scope="module")
def subscriber_cert(inst, enrolled) -> Path:
    out = inst.dir / "rina.pem"
    issue(inst, "natural-person", out, "--subscriber", enrolled)
    return out


def test_issue_for_a_subscriber_with_a_key_generated_in_the_hsm(inst, enrolled, subscriber_cert):
    out = subscriber_cert
    openssl_verify(inst, out)
    pkilint("lint_pkix_cert", out)
    assert pkilint("lint_etsi_cert", out, "-d", "-o").strip() == "NCP-NATURAL-PERSON-CERTIFICATE"
    subject = openssl("x509", "-in", out, "-noout", "-subject", "-nameopt", "RFC2253")
    for part in (
        f"serialNumber=PNOID-{NIK}",
        "CN=Rina Wulandari",
        "GN=Rina",
        "SN=Wulandari",
        "O=Kementerian Dalam Negeri",
        "C=ID",
    ):
        assert part in subject
    assert "email:rina.wulandari@kemendagri.go.id" in openssl(
        "x509", "-in", out, "-noout", "-ext", "subjectAltName"
    )
    shown = cert_show(inst, hex_of(openssl_serial(out)))
    assert shown["profile"] == "natural-person" and shown["key_label"]
    # No --days: the profile's two years, inclusive (notAfter - notBefore + 1 s = 730 days).
    assert validity(out) == dt.timedelta(days=730)
    # The key is on the token, sensitive and never extractable, and it is the certified key:
    # asked of the token with OpenSC's pkcs11-tool, compared by openssl.
    label = shown["key_label"]
    objects = pkcs11_tool(inst, "--list-objects", "--type", "privkey")
    (block,) = [b for b in objects.split("Private Key Object") if f"label:      {label}\n" in b]
    assert "sensitive, always sensitive, never extractable, local" in block
    pub = inst.dir / f"{label}.der"
    pkcs11_tool(inst, "--read-object", "--type", "pubkey", "--label", label, "-o", str(pub))
    assert openssl("pkey", "-pubin", "-inform", "DER", "-in", pub) == openssl(
        "x509", "-in", out, "-noout", "-pubkey"
    )
    assert subscriber(inst, NIK)["status"] in ("ISSUE", "SUSPEND", "REVOKE")


# -- revoke / suspend / unsuspend ------------------------------------------------------------------
def test_suspend_unsuspend_then_revoke_by_openssl_serial(inst, enrolled, subscriber_cert):
    line = openssl_serial(subscriber_cert)  # "serial=6FCF…", as scripts get it
    serial = hex_of(line)
    assert subscriber(inst, NIK)["status"] == "ISSUE"

    assert "suspended: issuing-ca serial" in inst.psre("suspend", serial.upper()).stdout
    shown = cert_show(inst, serial)
    assert shown["status"] == "hold" and shown["revocation_reason"] == "certificateHold"
    assert subscriber(inst, NIK)["status"] == "SUSPEND"
    assert "already hold" in inst.psre("suspend", serial).stdout

    out = inst.psre("unsuspend", serial).stdout
    assert f"released: issuing-ca serial {serial} is good again" in out
    shown = cert_show(inst, serial)
    assert shown["status"] == "good" and shown["revoked_at"] is None
    assert subscriber(inst, NIK)["status"] == "ISSUE"
    assert_refused(inst.psre("unsuspend", serial, check=False), f"certificate {serial} is good")

    res = inst.psre("revoke", line.split("=", 1)[1], "--reason", "affiliationChanged")
    assert f"revoked: issuing-ca serial {serial} reason affiliationChanged at " in res.stdout
    shown = cert_show(inst, serial)
    assert shown["status"] == "revoked" and shown["revocation_reason"] == "affiliationChanged"
    assert subscriber(inst, NIK)["status"] == "REVOKE"
    # Revocation is final and idempotent: a second revoke changes nothing, hold does not undo it.
    again = inst.psre("revoke", serial, "--reason", "keyCompromise")
    assert "already revoked" in again.stdout and "reason affiliationChanged" in again.stdout
    assert "already revoked" in inst.psre("suspend", serial).stdout
    assert_refused(inst.psre("unsuspend", serial, check=False), f"certificate {serial} is revoked")
    assert cert_show(inst, serial)["revocation_reason"] == "affiliationChanged"


def test_the_cli_cannot_revoke_or_suspend_a_ca_certificate(inst):
    # CA-level certificates change status only in a ceremony step or with two admins.
    issuing = x509.load_pem_x509_certificate(inst.chain_pem.read_bytes())
    serial = format(issuing.serial_number, "x")
    for args in (("revoke", serial, "--reason", "keyCompromise"), ("suspend", serial)):
        res = inst.psre(*args, check=False)
        assert_refused(res, f"certificate {serial} is a CA-level certificate (issuing-ca)")
        assert "revoke-ca" in res.stderr
    assert cert_show(inst, serial)["status"] == "good"


def test_revoke_key_compromise_blocks_the_key(inst):
    csr = p256_csr(inst.dir, "bob", "/CN=bob@setjen.go.id", "email:bob@setjen.go.id")
    out = inst.dir / "bob.pem"
    serial = issue(inst, "smime-mailbox", out, "--csr", str(csr))
    # The whole `openssl x509 -serial` line is accepted as SERIAL.
    res = inst.psre("revoke", openssl_serial(out), "--reason", "keyCompromise")
    assert f"revoked: issuing-ca serial {serial} reason keyCompromise" in res.stdout
    assert cert_show(inst, serial)["status"] == "revoked"

    # A new request for the same key, other mailbox: refused, the key is on the blocklist.
    again = inst.dir / "bob-again.csr"
    openssl(
        "req", "-new", "-key", inst.dir / "bob.key", "-subj", "/CN=bob2@setjen.go.id",
        "-addext", "subjectAltName=email:bob2@setjen.go.id", "-out", again,
    )  # fmt: skip
    out2 = inst.dir / "bob-again.pem"
    res = inst.psre(
        "issue", "--profile", "smime-mailbox", "--csr", str(again), "--out", str(out2), check=False
    )
    assert_refused(res, "public_key: listed as compromised", out2)


# -- refusals --------------------------------------------------------------------------------------
def test_refuses_a_weak_rsa_1024_csr(inst):
    csr = openssl_csr(
        inst.dir,
        "weak",
        "/CN=weak@setjen.go.id",
        san="email:weak@setjen.go.id",
        newkey=["-newkey", "rsa:1024"],
    )
    out = inst.dir / "weak.pem"
    res = inst.psre(
        "issue", "--profile", "smime-mailbox", "--csr", str(csr), "--out", str(out), check=False
    )
    assert_refused(res, "public_key: RSA modulus must be at least 2048 bits (got 1024)", out)


def test_refuses_a_csr_whose_signature_does_not_verify(inst):
    good = p256_csr(inst.dir, "tamper", "/CN=eve@setjen.go.id", "email:eve@setjen.go.id")
    der = bytearray(openssl_der_of_csr(good))
    der[-1] ^= 0x01  # last byte of the signature value
    bad = inst.dir / "tampered.csr"
    bad.write_bytes(bytes(der))
    # openssl agrees: the request still parses, but its self-signature fails (openssl 3.0 says
    # so on stderr and still exits 0, so the message is what is checked).
    checked = run("openssl", "req", "-inform", "DER", "-in", bad, "-noout", "-verify")
    assert "self-signature verify failure" in checked.stderr, checked.stderr
    intact = run("openssl", "req", "-in", good, "-noout", "-verify")
    assert "self-signature verify OK" in intact.stdout + intact.stderr
    out = inst.dir / "tampered.pem"
    res = inst.psre(
        "issue", "--profile", "smime-mailbox", "--csr", str(bad), "--out", str(out), check=False
    )
    assert_refused(res, "csr: signature does not verify: no proof of possession", out)
    # The intact request is issued: the refusal was the signature, not the contents.
    issue(inst, "smime-mailbox", inst.dir / "untampered.pem", "--csr", str(good))


BAD_ENROLMENTS = [
    ("317101470890000", "a@kemenkeu.go.id", "nik: NIK must be exactly 16 digits"),
    ("31710147089000031", "a@kemenkeu.go.id", "nik: NIK must be exactly 16 digits"),
    ("317101470890000X", "a@kemenkeu.go.id", "nik: NIK must be exactly 16 digits"),
    ("3171014708900011", "not an e-mail", "email: 'not an e-mail': must be local-part@domain"),
    ("3171014708900012", "a@@kemenkeu.go.id", "email: 'a@@kemenkeu.go.id': must be"),
    ("3171014708900013", "a@localhost", "email: 'a@localhost': domain must have at least"),
]


def test_subscriber_add_refuses_bad_nik_and_email(inst):
    for nik, email, reason in BAD_ENROLMENTS:
        res = inst.psre(
            "subscriber", "add", "--nik", nik, "--name", "Tono", "--email", email,
            "--agency", "Kementerian Keuangan", check=False,
        )  # fmt: skip
        assert_refused(res, reason)
    listed = {s["nik"] for s in json.loads(inst.psre("subscriber", "list", "--json").stdout)}
    assert listed.isdisjoint(nik for nik, _, _ in BAD_ENROLMENTS)


def test_refuses_an_unknown_profile(inst):
    csr = p256_csr(inst.dir, "prof", "/CN=prof@setjen.go.id", "email:prof@setjen.go.id")
    out = inst.dir / "prof.pem"
    res = inst.psre(
        "issue", "--profile", "web-server", "--csr", str(csr), "--out", str(out), check=False
    )
    assert_refused(res, "profile: unknown profile 'web-server'", out)


def test_revoking_an_unknown_serial_is_an_error(inst):
    res = inst.psre("revoke", "7E57000000000000000000000000CAFE", "--reason", "keyCompromise",
                    check=False)  # fmt: skip
    assert_refused(res, "no certificate with serial 7e57000000000000000000000000cafe")
    assert_refused(inst.psre("suspend", "serial=0BAD", check=False), "no certificate with serial")
    assert_refused(inst.psre("revoke", "xyz", check=False), "serial 'xyz' is not hexadecimal")


def test_refuses_a_duplicate_request(inst):
    csr = p256_csr(inst.dir, "dup", "/CN=dup@setjen.go.id", "email:dup@setjen.go.id")
    first = inst.dir / "dup-1.pem"
    serial = issue(inst, "smime-mailbox", first, "--csr", str(csr))
    second = inst.dir / "dup-2.pem"
    res = inst.psre(
        "issue", "--profile", "smime-mailbox", "--csr", str(csr), "--out", str(second), check=False
    )
    assert_refused(
        res, f"request: duplicate: certificate {serial} already certifies this key", second
    )


def test_refuses_validity_beyond_the_profile(inst, enrolled):
    csr = p256_csr(inst.dir, "long", "/CN=long@setjen.go.id", "email:long@setjen.go.id")
    out = inst.dir / "long.pem"
    res = inst.psre(
        "issue", "--profile", "smime-mailbox", "--csr", str(csr), "--days", "826",
        "--out", str(out), check=False,
    )  # fmt: skip
    assert_refused(res, "validity_days: 826 days exceeds the profile's maximum of 825", out)

    # The same for a key generated in the HSM, which is then destroyed again.
    before = {k["label"] for k in json.loads(inst.psre("hsm", "list", "--json").stdout)}
    res = inst.psre(
        "issue", "--profile", "natural-person", "--subscriber", enrolled, "--days", "731",
        "--out", str(out), check=False,
    )  # fmt: skip
    assert_refused(res, "validity_days: 731 days exceeds the profile's maximum of 730", out)
    after = {k["label"] for k in json.loads(inst.psre("hsm", "list", "--json").stdout)}
    assert after == before

    # Within the profile, --days is what the certificate gets (inclusive validity), both ways.
    issue(inst, "smime-mailbox", out, "--csr", str(csr), "--days", "30")
    assert validity(out) == dt.timedelta(days=30)
    sub_out = inst.dir / "rina-30.pem"
    issue(inst, "natural-person", sub_out, "--subscriber", enrolled, "--days", "30")
    assert validity(sub_out) == dt.timedelta(days=30)


def test_refuses_an_unwritable_out_before_issuing(inst):
    csr = p256_csr(inst.dir, "nodir", "/CN=nodir@setjen.go.id", "email:nodir@setjen.go.id")
    out = inst.dir / "no-such-dir" / "cert.pem"
    res = inst.psre(
        "issue", "--profile", "smime-mailbox", "--csr", str(csr), "--out", str(out), check=False
    )
    assert_refused(res, "--out: directory", out)
    # Nothing was issued: the same request to a real path is not a duplicate.
    issue(inst, "smime-mailbox", inst.dir / "nodir.pem", "--csr", str(csr))


# -- audit -----------------------------------------------------------------------------------------
def test_audit_chain_intact_and_every_certificate_audited(inst):
    ok = inst.psre("audit", "verify")
    assert ok.stdout.startswith("audit chain intact")
    events = json.loads(inst.psre("audit", "show", "--limit", "100000", "--json").stdout)
    actions = {e["action"] for e in events}
    for action in (
        "certificate.issue",
        "certificate.revoke",
        "certificate.suspend",
        "certificate.unsuspend",
        "subscriber.add",
    ):
        assert action in actions
    # One certificate.issue event per stored certificate, CAs included; refusals issued nothing.
    db = sqlite3.connect(inst.dir / "var" / "psre.sqlite3")
    try:
        stored = {r[0] for r in db.execute("select serial_hex from certificates")}
        reserved = db.execute("select count(*) from serial_reservations").fetchone()[0]
    finally:
        db.close()
    issued = {e["object"].rsplit(":", 1)[1] for e in events if e["action"] == "certificate.issue"}
    assert issued == stored and reserved == len(stored)
