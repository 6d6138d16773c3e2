"""``psre report`` (issue 20): the ministry's figures for a period, checked against a known set
of actions done through the real pipeline and the real signing API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time

from ca_core.config import SigningConfig
from ca_core.subscribers import Enrolment, issue_for
from tests.cli_support import PsreEnv
from tests.esign_support import (
    PASSPHRASE,
    b64,
    enrol_with_passphrase,
    make_esign_app,
    new_client,
    new_person,
    post_json,
)
from tests.pdf_support import minimal_pdf
from tests.pki_support import add_tsa_unit
from tests.web_support import new_nik


def _sign(http, creds, nik: str, level: str, n: int = 1, passphrase: str = PASSPHRASE):
    body = {
        "nik": nik,
        "passphrase": passphrase,
        "file": [b64(minimal_pdf(f"surat {i}")) for i in range(n)],
        "signatureProperties": [{"level": level, "tampilan": "INVISIBLE"}],
    }
    return post_json(http, "/api/v2/sign/pdf", creds, body)


def test_report_counts_a_known_set_of_actions(pki, tmp_path):
    url = pki.store.engine.url.render_as_string(hide_password=False)
    # The period starts on a whole second (revocation times are whole seconds) after the
    # template's CA certificates were made.
    now = dt.datetime.now(dt.UTC)
    time.sleep(1 - now.microsecond / 1e6)
    start = (now + dt.timedelta(seconds=1)).replace(microsecond=0)
    add_tsa_unit(pki)  # B-T signatures; one "tsa" certificate issued
    keu = new_person(pki)  # Kementerian Keuangan, natural-person certificate
    contoh_nik = new_nik()
    enrol_with_passphrase(
        pki,
        Enrolment(name="Ani Lestari", email="ani@contoh.go.id", nik=contoh_nik,
                  agency="Kementerian Contoh"),
    )  # fmt: skip
    issue_for(pki.issuer, pki.backend, key=contoh_nik, ca=pki.issuing, actor="test")
    extra = [
        issue_for(pki.issuer, pki.backend, key=keu.nik, ca=pki.issuing, actor="test").serial_hex
        for _ in range(3)
    ]
    pki.revoker.revoke(extra[0], "keyCompromise", actor="ra")
    pki.revoker.revoke(extra[1], "superseded", actor="ra")
    pki.revoker.suspend(extra[2], actor="ra")
    pki.revoker.unsuspend(extra[2], actor="ra")  # released: still one suspension in the period

    app = make_esign_app(pki, url, SigningConfig(max_failures=2))
    http = app.test_client()
    app1, app2 = new_client(pki), new_client(pki)
    assert _sign(http, app1, keu.nik, "B-B", n=2).status_code == 200
    assert _sign(http, app1, contoh_nik, "B-T").status_code == 200
    assert _sign(http, app2, keu.nik, "B-B").status_code == 200
    for _ in range(2):  # two wrong passphrases lock Ani out
        assert _sign(http, app2, contoh_nik, "B-B", passphrase="salah-sekali").status_code in (
            400,
            423,
        )
    assert _sign(http, app2, contoh_nik, "B-B").status_code == 423
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    env = PsreEnv(tmp_path)
    env.config.write_text(f'database_url = "{url}"\n')
    period = ("--from", start.isoformat(), "--to", end.isoformat())
    d = json.loads(env.run("report", *period, "--json").stdout)
    assert d["certificates_issued"] == {
        "total": 6, "by_profile": {"natural-person": 5, "tsa": 1},
    }  # fmt: skip
    assert d["certificates_revoked"] == {
        "total": 2, "by_reason": {"keyCompromise": 1, "superseded": 1},
    }  # fmt: skip
    assert d["certificates_suspended"] == {"total": 1}
    sig = d["signatures"]
    assert sig["total"] == 4
    assert sig["by_client_app"] == {app1.username: 3, app2.username: 1}
    assert sig["by_agency"] == {"Kementerian Contoh": 1, "Kementerian Keuangan": 3}
    assert sig["by_level"] == {"B-B": 3, "B-T": 1}
    assert d["lockouts"] == {"total": 1, "by_agency": {"Kementerian Contoh": 1}}

    rows = list(csv.DictReader(io.StringIO(env.run("report", *period, "--csv").stdout)))
    got = {(r["metric"], r["client_app"], r["agency"], r["level"], r["reason"], r["profile"]):
           r["count"] for r in rows}  # fmt: skip
    assert got[("signatures", app1.username, "Kementerian Keuangan", "B-B", "", "")] == "2"
    assert got[("certificates_revoked", "", "", "", "keyCompromise", "")] == "1"
    assert got[("lockouts", "", "Kementerian Contoh", "", "", "")] == "1"

    # Nothing of this happened the day before.
    before = ("--from", (start - dt.timedelta(days=1)).isoformat(), "--to", start.isoformat())
    empty = json.loads(env.run("report", *before, "--json").stdout)
    assert empty["signatures"]["total"] == 0 and empty["certificates_revoked"]["total"] == 0

    bad = env.run("report", "--from", "2026-13-01", "--to", "2026-12-31", check=False)
    assert bad.returncode == 2 and "not a date" in bad.stderr
    backwards = env.run("report", "--from", "2026-12-31", "--to", "2026-01-01", check=False)
    assert backwards.returncode == 2 and "--from must be before --to" in backwards.stderr
