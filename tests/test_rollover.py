"""Issuing-CA rollover (issue 20): the ceremony file makes the new CA and switches issuance at a
stated time; the old CA keeps publishing CRLs until its last certificate has expired, then it is
retired."""

from __future__ import annotations

import datetime as dt
import json
import string
import subprocess
from pathlib import Path

from cryptography import x509

from ca_core.authority import CaSpec, create_issuing
from ca_core.config import CrlConfig
from ca_core.issuer import IssueRequest
from ca_core.rollover import default_issuing_ca, retire_finished, switch
from ca_core.store import Store
from crl.publish import CrlPublisher
from hsm.backend import KeySpec
from tests.cli_support import PsreEnv
from tests.pki_support import BASE_URL

TEMPLATE = (
    Path(__file__).resolve().parents[1]
    / "ceremony_scripts"
    / "rollover"
    / ("issuing-ca-rollover.toml")
)
NIK = "3174012345678901"


def _z(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _render(out_dir: Path, switch_at: dt.datetime) -> Path:
    today = switch_at.replace(hour=0, minute=0, second=0)
    stamp = switch_at.strftime("%Y%m%dT%H%M%S")
    values = {
        "stamp": stamp, "token_label": "psre-dev", "operator": "Ani Lestari",
        "root_key_label": "demo-root-ca", "root_ca": "root-ca", "old_ca": "issuing-ca",
        "new_ca": "issuing-ca-2", "new_key_label": f"issuing-ca-2-{stamp}", "org": "PSrE Demo",
        "new_cn": "PSrE Demo Issuing CA 2", "not_before": _z(today),
        "not_after": _z(today + dt.timedelta(days=3650, seconds=-1)),
        "ocsp_not_after": _z(today + dt.timedelta(days=90, seconds=-1)),
        "switch_at": _z(switch_at),
    }  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "rollover.toml"
    path.write_text(string.Template(TEMPLATE.read_text()).substitute(values))
    return path


def _issuer_of(env: PsreEnv, out: Path, *args: str) -> str:
    res = env.run("issue", "--profile", "natural-person", "--subscriber", NIK, "--out", str(out),
                  *args)  # fmt: skip
    return res.stdout.strip().rsplit(" by ", 1)[1]


def test_rollover_ceremony_switches_issuance_and_the_old_ca_keeps_publishing(tmp_path):
    env = PsreEnv(tmp_path / "site")
    env.root.mkdir()
    env.run("init")
    env.run("ceremony", "split-pin", "-k", "2", "-n", "3", "--out-dir", "shares",
            "--from", "file:var/secrets/hsm-user.pin")  # fmt: skip
    shares = sorted((env.root / "shares").iterdir())
    env.run("subscriber", "add", "--nik", NIK, "--name", "Budi Santoso",
            "--email", "budi@example.go.id", "--agency", "Kementerian Contoh")  # fmt: skip
    assert _issuer_of(env, tmp_path / "old.pem") == "issuing-ca"

    switch_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ceremony = _render(env.root / "rollover", switch_at)
    res = env.run("ceremony", "run", str(ceremony), "--yes", "--share", str(shares[0]),
                  "--share", str(shares[2]))  # fmt: skip
    assert "complete" in res.stdout
    transcript = ceremony.parent / switch_at.strftime("%Y%m%dT%H%M%S") / "rollover.transcript.jsonl"
    assert env.run("ceremony", "verify", str(transcript)).returncode == 0

    # After the stated time: the new CA issues, the old one is refused.
    assert _issuer_of(env, tmp_path / "new.pem", "--days", "10") == "issuing-ca-2"
    # Its holder is told it expires soon: once (lifecycle.expiry_notice_days = 30).
    assert "1 expiry notice(s) sent" in env.run("lifecycle", "run").stdout
    assert "0 expiry notice(s) sent" in env.run("lifecycle", "run").stdout
    chain = tmp_path / "chain2.pem"
    env.run("ca", "export", "issuing-ca-2", "--out", str(chain))
    ok = subprocess.run(["openssl", "verify", "-partial_chain", "-CAfile", str(chain),
                         str(tmp_path / "new.pem")], capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    refused = env.run("issue", "--profile", "natural-person", "--subscriber", NIK, "--ca",
                      "issuing-ca", "--out", str(tmp_path / "x.pem"), check=False)  # fmt: skip
    assert refused.returncode == 2 and "stopped issuing at" in refused.stderr

    # The old CA still revokes and publishes: its CRL lists a revocation made after the switch.
    old_serial = format(
        x509.load_pem_x509_certificate((tmp_path / "old.pem").read_bytes()).serial_number, "x"
    )
    env.run("revoke", old_serial, "--reason", "superseded")
    published = env.run("crl", "generate").stdout
    assert "issuing-ca.crl" in published and "issuing-ca-2.crl" in published
    crl = x509.load_der_x509_crl(
        (env.root / "var" / "public" / "crl" / "issuing-ca.crl").read_bytes()
    )
    assert crl.get_revoked_certificate_by_serial_number(int(old_serial, 16)) is not None

    (ev,) = json.loads(env.run("audit", "show", "--action", "ca.issuance_switch", "--json").stdout)
    assert ev["actor"] == "Ani Lestari"
    assert ev["details"] == {"replaces": "issuing-ca", "at": _z(switch_at)}
    store = Store.open(f"sqlite:///{env.root / 'var' / 'psre.sqlite3'}")
    try:  # the switch is at the stated time, to the second
        assert default_issuing_ca(store, switch_at - dt.timedelta(seconds=1)) == "issuing-ca"
        assert default_issuing_ca(store, switch_at) == "issuing-ca-2"
    finally:
        store.close()


def test_the_old_ca_retires_after_its_last_certificate_expired_and_one_more_crl(pki):
    last = pki.issuer.issue(
        pki.issuing,
        IssueRequest(profile="tsa", subject={"C": "ID", "O": "PSrE Uji", "CN": "TSA lama"},
                     public_key=_tsa_key(pki), validity_days=1, actor="test"),
    )  # fmt: skip
    create_issuing(
        pki.store, pki.backend, pki.issuer,
        CaSpec("issuing-ca-2", f"issuing-2-{last.serial_hex[:6]}", KeySpec.EC_P384,
               {"C": "ID", "O": "PSrE Uji", "CN": "PSrE Uji Issuing CA 2"}, validity_days=1825),
        parent=pki.root, actor="test",
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    switch(pki.store, old=pki.issuing, new="issuing-ca-2", at=now, actor="test")
    expiry = last.certificate.not_valid_after_utc
    assert retire_finished(pki.store, now + dt.timedelta(hours=1)) == []  # still has a live one
    # Expired, but no CRL has come out since: still active, still publishing.
    assert retire_finished(pki.store, expiry + dt.timedelta(hours=1)) == []
    CrlPublisher(pki.store, pki.backend, CrlConfig(), base_url=BASE_URL, public_dir=None,
                 clock=lambda: expiry + dt.timedelta(hours=1)).publish(pki.issuing)  # fmt: skip
    assert retire_finished(pki.store, expiry + dt.timedelta(hours=2)) == [pki.issuing]
    assert pki.store.get_ca(pki.issuing).status == "retired"
    assert pki.store.get_ca("issuing-ca-2").status == "active"
    (ev,) = pki.store.audit.list(action="ca.retire")
    assert ev.object == f"ca:{pki.issuing}"


def _tsa_key(pki):
    import secrets

    label = f"tsa-old-{secrets.token_hex(3)}"
    pki.backend.generate(label, KeySpec.EC_P256)
    return pki.backend.public_key(label)
