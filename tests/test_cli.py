"""The ``psre`` command as a newcomer and an operator use it: real processes, real token, real
database, real HTTP."""

from __future__ import annotations

import getpass
import json
import sqlite3
import subprocess
import urllib.request

import pytest

from tests.cli_support import PSRE, PsreEnv, serving


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    env = PsreEnv(tmp_path_factory.mktemp("psre"))
    env.run("init", "--no-demo")
    return env


def test_version():
    out = subprocess.run([*PSRE, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("psre, version ")


def test_init_creates_config_token_database_and_is_idempotent(inst):
    assert inst.config.exists()
    var = inst.root / "var"
    assert (var / "psre.sqlite3").exists()
    pin_file = var / "secrets" / "hsm-user.pin"
    assert pin_file.stat().st_mode & 0o777 == 0o600
    first = inst.run("init", "--no-demo")
    again = inst.run("init", "--no-demo")
    assert "ready" in again.stdout
    # The key that MACs one-time codes is made in the token once, never exported.
    (key_line,) = [ln for ln in again.stdout.splitlines() if "one-time code key" in ln]
    assert "'psre-code-mac'" in key_line and "sensitive=True, extractable=False" in key_line
    assert key_line in first.stdout
    listing = inst.run("hsm", "list", "--json")
    assert json.loads(listing.stdout) == [] or isinstance(json.loads(listing.stdout), list)
    # Two inits, two audit events, one intact chain; the PIN never reached the database.
    pin = pin_file.read_text().strip()
    db = sqlite3.connect(var / "psre.sqlite3")
    dump = "\n".join(db.iterdump())
    assert pin not in dump
    actions = [r[0] for r in db.execute("select action from audit_events order by seq")]
    assert actions.count("system.init") >= 2


def test_hsm_keygen_list_and_selftest(inst):
    out = inst.run("hsm", "keygen", "--label", "cli-ec", "--type", "ec-p384")
    assert "generated ec-p384 key 'cli-ec'" in out.stdout
    assert "BEGIN PUBLIC KEY" in out.stdout
    keys = json.loads(inst.run("hsm", "list", "--json").stdout)
    (k,) = [k for k in keys if k["label"] == "cli-ec"]
    assert k == {**k, "type": "ec-p384", "sensitive": True, "extractable": False}
    dup = inst.run("hsm", "keygen", "--label", "cli-ec", "--type", "ec-p256", check=False)
    assert dup.returncode == 2 and "already exists" in dup.stderr
    assert "Traceback" not in dup.stderr
    test = inst.run("hsm", "test")
    assert "sign + verify OK" in test.stdout
    # The self-test key is gone afterwards.
    assert all(
        not k["label"].startswith("psre-selftest")
        for k in json.loads(inst.run("hsm", "list", "--json").stdout)
    )


def test_wrong_pin_is_a_clear_cli_error(inst):
    bad = PsreEnv(
        inst.root,
        {"PSRE_HSM_PIN_SOURCE": "env:PSRE_TEST_WRONG_PIN", "PSRE_TEST_WRONG_PIN": "not-the-pin"},
    )
    res = bad.run("hsm", "list", check=False)
    assert res.returncode == 2
    assert "login to token 'psre-dev' failed: the PIN is incorrect" in res.stderr
    assert "not-the-pin" not in res.stderr + res.stdout
    events = json.loads(inst.run("audit", "show", "--action", "hsm.login_failed", "--json").stdout)
    assert events and events[0]["object"] == "token:psre-dev"
    assert "not-the-pin" not in json.dumps(events)


def test_audit_verify_and_tamper_detection(inst):
    ok = inst.run("audit", "verify")
    assert "audit chain intact" in ok.stdout
    shown = json.loads(inst.run("audit", "show", "--json").stdout)
    assert any(e["action"] == "hsm.keygen" for e in shown)
    db = sqlite3.connect(inst.root / "var" / "psre.sqlite3")
    (actor,) = db.execute("select actor from audit_events where seq = 1").fetchone()
    with db:
        db.execute("update audit_events set actor = 'mallory' where seq = 1")
    bad = inst.run("audit", "verify", check=False)
    assert bad.returncode == 1
    assert "audit chain broken at sequence 1" in bad.stdout + bad.stderr
    with db:  # put it back for the other tests of this module
        db.execute("update audit_events set actor = ? where seq = 1", (actor,))
    assert inst.run("audit", "verify").returncode == 0


def test_config_show_redacts_and_bad_config_names_the_key(inst, tmp_path):
    shown = PsreEnv(inst.root, {"PSRE_DATABASE_URL": "postgresql+psycopg://u:hunter2@db/psre"}).run(
        "config", "show"
    )
    assert "hunter2" not in shown.stdout and "u:***@db" in shown.stdout
    broken = PsreEnv(tmp_path)
    broken.config.write_text("[hsm]\nmodul = 'x'\n")
    res = broken.run("config", "show", check=False)
    assert res.returncode == 2
    assert "hsm.modul: unknown key" in res.stderr


def test_serve_answers_healthz_over_http(inst):
    with serving(inst) as base:
        url = f"{base}/healthz"
        for _ in range(4):  # more than one worker and thread answers, each with its own session
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.loads(r.read())
                assert r.status == 200
        assert body["status"] == "ok"
        assert body["hsm"]["ok"] is True and body["hsm"]["token"] == "psre-dev"
        assert body["database"]["ok"] is True and body["database"]["dialect"] == "sqlite"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/nope", timeout=5)
        assert err.value.code == 404
        assert json.loads(err.value.read())["error"]["code"] == "not_found"


def test_healthz_reports_a_broken_token_as_503(inst):
    env = PsreEnv(inst.root, {"PSRE_HSM_TOKEN_LABEL": "missing-token"})
    with serving(env) as base:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert err.value.code == 503
        body = json.loads(err.value.read())
        assert body["status"] == "degraded" and body["hsm"]["ok"] is False
        assert "missing-token" in body["hsm"]["error"]


# --- issue 15: who acted, private files, the outbox ------------------------------------------


def _actors(inst: PsreEnv) -> dict[str, str]:
    """action+object → actor of the audit events so far."""
    events = json.loads(inst.run("audit", "show", "--limit", "10000", "--json").stdout)
    return {f"{e['action']} {e['object']}": e["actor"] for e in events}


def test_cli_audit_events_name_the_os_account_and_the_named_person(inst):
    user = getpass.getuser()
    inst.run("client", "add", "Aplikasi Satu", "--json")
    inst.run("--actor", "Siti Rahma", "client", "add", "Aplikasi Dua", "--json")
    inst.run("client", "disable", "aplikasi-dua", extra_env={"PSRE_ACTOR": "Budi"})
    actors = _actors(inst)
    assert actors["client.create client:aplikasi-satu"] == f"os:{user}"
    assert actors["client.create client:aplikasi-dua"] == f"Siti Rahma (os:{user})"
    assert actors["client.disable client:aplikasi-dua"] == f"Budi (os:{user})"
    assert actors["system.init psre"] == f"os:{user}"
    assert not {"operator", "cli", "psre-init"} & set(actors.values())
    bad = inst.run("--actor", "x\x1b[2J", "client", "list", check=False)
    assert bad.returncode == 2 and "--actor" in bad.stderr


def test_database_and_data_directory_are_private(inst):
    var = inst.root / "var"
    db = var / "psre.sqlite3"
    assert var.stat().st_mode & 0o777 == 0o700
    assert db.stat().st_mode & 0o777 == 0o600
    wal = var / "psre.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_mode & 0o777 == 0o600
    # An installation made before is tightened: the file when opened, var/ by init.
    var.chmod(0o755)
    db.chmod(0o644)
    inst.run("audit", "verify")
    assert db.stat().st_mode & 0o777 == 0o600
    inst.run("init", "--no-demo")
    assert var.stat().st_mode & 0o777 == 0o700


def test_expired_codes_are_swept_by_the_cli_and_the_refresher(inst):
    def enrol(nik: str) -> None:
        inst.run(
            "subscriber", "add", "--nik", nik, "--name", "Wati", "--agency", "BPS",
            "--email", f"wati.{nik[-4:]}@bps.go.id",
        )  # fmt: skip

    def expire_all() -> None:
        db = sqlite3.connect(inst.root / "var" / "psre.sqlite3")
        with db:
            db.execute("UPDATE outbox_messages SET expires_at = '2000-01-01 00:00:00'")
        db.close()

    def waiting() -> int:
        db = sqlite3.connect(inst.root / "var" / "psre.sqlite3")
        try:
            return db.execute("SELECT count(*) FROM outbox_messages").fetchone()[0]
        finally:
            db.close()

    enrol("3171020304050601")
    assert waiting() >= 1
    assert inst.run("outbox", "sweep").stdout.startswith("removed 0 ")  # not expired yet
    expire_all()
    assert inst.run("outbox", "take").stdout == ""  # an expired code is not delivered
    n = waiting()
    assert inst.run("outbox", "sweep").stdout.startswith(f"removed {n} ")
    assert waiting() == 0
    enrol("3171020304050602")
    expire_all()
    inst.run("refresher", "--once")  # the refresher sweeps the outbox
    assert waiting() == 0


def test_audit_checkpoints_through_the_cli(inst):
    """Issue 18: the daily walk starts from an HSM-authenticated checkpoint (real token)."""
    first = inst.run("audit", "verify", "--checkpoint")
    assert "; checkpoint at " in first.stdout, first.stdout
    inst.run("hsm", "test")  # appends events after the checkpoint
    daily = inst.run("audit", "verify", "--from-checkpoint", "--checkpoint")
    assert "(walked from checkpoint " in daily.stdout, daily.stdout
    db = sqlite3.connect(inst.root / "var" / "psre.sqlite3")
    with db:  # a forged checkpoint (no HSM) is refused
        db.execute("update audit_checkpoints set hash = ? where id = 1", ("0" * 64,))
        db.execute("delete from audit_checkpoints where id > 1")
    forged = inst.run("audit", "verify", "--from-checkpoint", check=False)
    assert forged.returncode == 1
    assert "fails its HSM MAC" in forged.stdout
    with db:
        db.execute("delete from audit_checkpoints")
