"""``psre ceremony …`` as operators and custodians use it: real processes, the dev SoftHSM token
made by ``psre init`` (whose demo PKI is itself made by ceremonies), shares on disk, prompts."""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path

import pytest

from ceremony_scripts.transcript import read
from tests.ceremony_support import DELEGATED, ROOT, ceremony_file
from tests.cli_support import PsreEnv


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> PsreEnv:
    e = PsreEnv(tmp_path_factory.mktemp("ceremony"))
    e.run("init")
    return e


@pytest.fixture(scope="module")
def shares(env: PsreEnv) -> list[Path]:
    res = env.run(
        "ceremony", "split-pin", "-k", "2", "-n", "3", "--out-dir", "shares",
        "--from", "file:var/secrets/hsm-user.pin",
        "--custodian", "Custodian A", "--custodian", "Custodian B", "--custodian", "Custodian C",
    )  # fmt: skip
    assert "2 of 3 shares rebuild the PIN" in res.stdout
    files = sorted((env.root / "shares").iterdir())
    assert len(files) == 3
    return files


def _keys(env: PsreEnv) -> set[str]:
    return {k["label"] for k in json.loads(env.run("hsm", "list", "--json").stdout)}


def test_demo_pki_was_made_by_ceremonies_whose_transcripts_verify(env):
    transcripts = sorted((env.root / "var" / "ceremonies").rglob("*.transcript.jsonl"))
    assert [p.name.split(".")[0] for p in transcripts] == ["issuing", "ocsp-signer", "root", "tsa"]
    for t in transcripts:
        res = env.run("ceremony", "verify", str(t))
        assert "FAIL" not in res.stdout and "OK   signature" in res.stdout, res.stdout
        assert read(t)[0]["details"]["mode"] == "UNATTENDED (test mode)"


def test_split_pin_writes_private_share_files_and_never_the_pin(env, shares):
    pin = (env.root / "var" / "secrets" / "hsm-user.pin").read_text().strip()
    for f in shares:
        assert f.stat().st_mode & 0o777 == 0o600
        assert pin not in f.read_text()
    ok = env.run("ceremony", "check-shares", str(shares[0]), str(shares[2]))
    assert "OK: split" in ok.stdout and pin not in ok.stdout
    events = json.loads(env.run("audit", "show", "--action", "ceremony.split", "--json").stdout)
    assert events and events[0]["details"]["threshold"] == 2
    assert pin not in json.dumps(events)


def test_run_with_two_custodian_shares(env, shares):
    path, tag = ceremony_file(
        env.root / "c1", "psre-dev", DELEGATED, sign_with="demo-issuing-ca", name="shares"
    )
    res = env.run("ceremony", "run", str(path), "--yes", "--share", str(shares[0]),
                  "--share", str(shares[2]))  # fmt: skip
    assert "ceremony shares complete" in res.stdout
    entries = read(path.parent / "out" / "shares.jsonl")
    custody = entries[0]["details"]["custody"]
    assert custody["mode"] == "shares" and custody["shares_used"] == 2
    assert {f"{tag}-ocsp", f"{tag}-tsa"} <= _keys(env)
    assert env.run("ceremony", "verify", str(path.parent / "out" / "shares.jsonl")).returncode == 0


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("one", "1 share(s) given, this split needs 2 of 3"),
        ("corrupted", "share 2 is corrupted"),
        ("foreign", "share 2 belongs to another split"),
    ],
)
def test_bad_shares_are_refused_and_nothing_is_touched(env, shares, which, message, tmp_path):
    path, tag = ceremony_file(
        tmp_path, "psre-dev", DELEGATED, sign_with="demo-issuing-ca", name=f"bad-{which}"
    )
    if which == "one":
        given = [shares[0]]
    elif which == "corrupted":
        bad = tmp_path / "bad.txt"
        text = shares[1].read_text().strip()
        i = len(text) // 2
        bad.write_text(text[:i] + ("0" if text[i] != "0" else "1") + text[i + 1 :])
        given = [shares[0], bad]
    else:
        env.run("ceremony", "split-pin", "-k", "2", "-n", "2", "--out-dir", str(tmp_path / "o"),
                "--from", "file:var/secrets/hsm-user.pin")  # fmt: skip
        given = [shares[0], sorted((tmp_path / "o").iterdir())[1]]
    before = _keys(env)
    args = [a for f in given for a in ("--share", str(f))]
    res = env.run("ceremony", "run", str(path), "--yes", *args, check=False)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert _keys(env) == before and not (tmp_path / "out").exists()


def test_attended_run_custodians_and_witnesses_at_the_prompt(env, shares):
    path, tag = ceremony_file(
        env.root / "c2", "psre-dev", DELEGATED, sign_with="demo-issuing-ca", name="attended"
    )
    s1, s2 = shares[0].read_text().strip(), shares[1].read_text().strip()
    typed = "\n".join(
        ["Custodian A", s1, "Custodian B", s2]
        + ["Witness 1", "Witness 2"] * 2  # two steps, each confirmed by both witnesses
    )
    res = env.run("ceremony", "run", str(path), input=typed + "\n")
    assert "ceremony attended complete" in res.stdout, res.stdout + res.stderr
    assert s1 not in res.stdout + res.stderr
    entries = read(path.parent / "out" / "attended.jsonl")
    assert entries[0]["details"]["mode"] == "attended"
    assert entries[0]["details"]["custody"]["custodians_present"] == ["Custodian A", "Custodian B"]
    acks = [(e["actor"], e["details"]["ack"]) for e in entries if e["action"] == "witness.ack"]
    assert acks == [("Witness 1", "confirmed (typed their name)"),
                    ("Witness 2", "confirmed (typed their name)")] * 2  # fmt: skip


def test_a_witness_who_does_not_confirm_stops_the_ceremony(env, shares):
    path, tag = ceremony_file(
        env.root / "c3", "psre-dev", DELEGATED, sign_with="demo-issuing-ca", name="unwitnessed"
    )
    s1, s2 = shares[0].read_text().strip(), shares[1].read_text().strip()
    typed = "\n".join(["Custodian A", s1, "Custodian C", s2, "Witness 1", "nope"]) + "\n"
    res = env.run("ceremony", "run", str(path), input=typed, check=False)
    assert res.returncode == 2
    assert "step 1 failed during witnesses: witness Witness 2 did not confirm step 1" in res.stderr
    v = env.run("ceremony", "verify", str(path.parent / "out" / "unwitnessed.jsonl"), check=False)
    assert v.returncode == 1 and "FAIL outcome: FAILED at step 1 during witnesses" in v.stdout


def test_dry_run_prints_what_would_be_made_and_writes_nothing(env):
    path, tag = ceremony_file(
        env.root / "c4", "psre-dev", DELEGATED, sign_with="demo-issuing-ca", name="dry"
    )
    before = _keys(env)
    res = env.run("ceremony", "run", str(path), "--dry-run", "--yes")
    assert "DRY RUN on a scratch token" in res.stdout
    assert f"{path.parent / 'out' / 'ocsp.pem'}: certificate CN=PSrE Uji OCSP" in res.stdout
    assert _keys(env) == before and not (path.parent / "out").exists()
    tokens = subprocess.run(
        ["softhsm2-util", "--show-slots"],
        env={"SOFTHSM2_CONF": str(env.root / "var" / "softhsm2.conf")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dryrun-" not in tokens  # the scratch token is gone


def test_verify_cli_exits_1_on_a_tampered_output(env, shares):
    path, _ = ceremony_file(
        env.root / "c5", "psre-dev", DELEGATED, sign_with="demo-issuing-ca", name="tamper"
    )
    env.run("ceremony", "run", str(path), "--yes")
    # The shell account that started it is on record next to the file's operator (BR 5.4.1).
    invoked = env.run("audit", "show", "--action", "ceremony.invoked", "--json").stdout
    assert f'"actor": "os:{getpass.getuser()}"' in invoked and "ceremony:tamper" in invoked
    (path.parent / "out" / "tsa.pem").write_text("not a certificate\n")
    res = env.run("ceremony", "verify", str(path.parent / "out" / "tamper.jsonl"), check=False)
    assert res.returncode == 1
    assert "FAIL output" in res.stdout and "FAIL certificate CN=PSrE Uji TSA" in res.stdout


def test_a_crash_mid_ceremony_leaves_a_transcript_ending_where_it_stopped(env):
    path, tag = ceremony_file(env.root / "c6", "psre-dev", ROOT, root="crash-root", name="crash")
    crashed = PsreEnv(env.root, {"PSRE_FAULT": "after_hsm_sign"})
    res = crashed.run("ceremony", "run", str(path), "--yes", check=False)
    assert res.returncode == 86  # the process died after the HSM signed, before the DB write
    transcript = path.parent / "out" / "crash.jsonl"
    assert [e["action"] for e in read(transcript)] == [
        "ceremony.start",
        "step.start",
        "key.generate",
    ]
    assert f"{tag}-root" in _keys(env)  # the half-made key is labelled, and recorded
    v = env.run("ceremony", "verify", str(transcript), check=False)
    assert v.returncode == 1
    assert "OK   chain: 3 entries intact" in v.stdout
    assert "FAIL outcome: INCOMPLETE: stopped after entry 3 (key.generate, step 1)" in v.stdout
    assert "FAIL signature: the transcript is not signed" in v.stdout
