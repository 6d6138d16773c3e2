"""Key ceremonies on a real SoftHSM token and a real database (SQLite, and PostgreSQL when
configured): the whole hierarchy, refusals, failures half-way, and tamper detection. Outputs are
checked with openssl and pkilint's own command-line linters."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select

from ca_core import lint
from ca_core.store.models import Certificate
from ceremony_scripts import spec
from ceremony_scripts.errors import PreflightError, StepFailed
from ceremony_scripts.runner import UNATTENDED, Custody, RunResult, dry_run, preflight, run
from ceremony_scripts.steps import FAULT_ENV
from ceremony_scripts.transcript import check_chain, read
from ceremony_scripts.verify import verify
from crl.publish import crl_for_certificate, newest_crl
from policies.schema import load_profiles
from tests.ceremony_support import DELEGATED, ISSUING, ROOT, ceremony_file
from tests.pki_support import BASE_URL

PROFILES = load_profiles()


class QuietUi:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def echo(self, text: str) -> None:
        self.lines.append(text)

    def acknowledge(self, witness, step, summary) -> bool:
        raise AssertionError("unattended runs never ask")


def _run(path: Path, store, backend) -> RunResult:
    return run(
        spec.load(path),
        store=store,
        backend=backend,
        profiles=PROFILES,
        base_url=BASE_URL,
        ui=QuietUi(),
        custody=Custody(UNATTENDED),
        unattended=True,
    )


def _labels(backend) -> set[str]:
    return {k.label for k in backend.list_keys()}


def _fails(rep) -> dict[str, str]:
    return {c.name: c.detail for c in rep.checks if not c.ok}


@pytest.fixture
def hierarchy(tmp_path, store, backend, token):
    path, tag = ceremony_file(tmp_path, token.label, ROOT, ISSUING, DELEGATED)
    return path, tag, _run(path, store, backend)


def test_full_ceremony_makes_a_hierarchy_openssl_and_pkilint_accept(hierarchy, store, tmp_path):
    path, tag, result = hierarchy
    assert result.outcome == "complete"
    out = tmp_path / "out"
    for leaf, purpose in (("ocsp.pem", "ocsphelper"), ("tsa.pem", "timestampsign")):
        res = subprocess.run(
            ["openssl", "verify", "-CAfile", out / "root.pem", "-untrusted", out / "issuing.pem"]
            + ["-purpose", purpose, out / leaf],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0 and res.stdout.strip().endswith(": OK"), res.stderr
    for name in ("root.pem", "issuing.pem", "ocsp.pem", "tsa.pem"):
        res = subprocess.run(
            [".venv/bin/lint_pkix_cert", "lint", "-s", "WARNING", out / name],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert res.returncode == 0 and res.stdout.strip() == "", (name, res.stdout)
    for issuer, subject in (("root", "issuing"), ("issuing", "ocsp"), ("issuing", "tsa")):
        res = subprocess.run(
            [".venv/bin/lint_pkix_signer_signee_cert_chain", "lint", "-s", "WARNING"]
            + [out / f"{issuer}.pem", out / f"{subject}.pem"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert res.returncode == 0 and res.stdout.strip() == "", (subject, res.stdout)
    # The validity is exactly the file's.
    c = spec.load(path)
    root = x509.load_pem_x509_certificate((out / "root.pem").read_bytes())
    assert root.not_valid_before_utc == c.steps[0].not_before
    assert root.not_valid_after_utc == c.steps[0].not_after


def test_delegated_certificates_are_stored_with_their_key_labels(hierarchy, store, backend):
    _, tag, _ = hierarchy
    issuing = store.get_ca("issuing-ca")
    with store.session() as s:
        rows = s.execute(
            select(Certificate.profile, Certificate.key_label).where(
                Certificate.issuer_id == issuing.id, Certificate.profile.in_(["ocsp-signer", "tsa"])
            )
        ).all()
    assert sorted(rows) == [("ocsp-signer", f"{tag}-ocsp"), ("tsa", f"{tag}-tsa")]
    assert issuing.key_label == f"{tag}-issuing" and issuing.parent_id == store.get_ca("root-ca").id
    for k in backend.list_keys():
        if k.label.startswith(tag):
            assert k.sensitive and not k.extractable


def test_transcript_records_every_step_witnessed_unattended_and_is_signed(
    hierarchy, store, backend
):
    path, tag, result = hierarchy
    entries = read(result.transcript)
    assert check_chain(entries).ok
    start = entries[0]["details"]
    assert start["mode"] == UNATTENDED and start["file_sha256"] == spec.load(path).sha256
    acks = [e for e in entries if e["action"] == "witness.ack"]
    assert len(acks) == 5 * 2 and {a["details"]["ack"] for a in acks} == {UNATTENDED}
    ends = [e for e in entries if e["action"] == "step.end"]
    assert any("C_GenerateKeyPair" in c for c in ends[0]["details"]["pkcs11_calls"])
    assert entries[-1]["action"] == "transcript.signature"
    assert entries[-1]["details"]["key_label"] == f"{tag}-root"
    # Every step is also an audit event, and the audit chain holds.
    steps = store.audit.list(limit=100, action="ceremony.step")
    assert sorted(e.details["step"] for e in steps) == [1, 2, 3, 4, 5]
    assert store.audit.verify().ok
    rep = verify(result.transcript, backend=backend, profiles=PROFILES)
    assert rep.ok, _fails(rep)
    names = [c.name for c in rep.checks]
    assert sum(n.startswith("certificate ") for n in names) == 4
    assert sum(n.startswith("key ") for n in names) == 4
    md = result.report_md.read_text()
    assert "Outcome: COMPLETE" in md and UNATTENDED in md
    assert "<h2>Outcome: COMPLETE</h2>" in result.report_html.read_text()


def test_a_second_real_run_refuses_existing_outputs_labels_and_cas(hierarchy, store, backend):
    path, tag, _ = hierarchy
    before = _labels(backend)
    audit_before = store.audit.verify().count
    with pytest.raises(PreflightError) as err:
        _run(path, store, backend)
    text = str(err.value)
    assert "nothing was touched" in text
    assert f"key label '{tag}-root' already exists on the token" in text
    assert "CA 'root-ca' already exists" in text
    assert "out/root.pem already exists" in text and ".jsonl already exists" in text
    assert _labels(backend) == before and store.audit.verify().count == audit_before


def test_verify_detects_an_edited_transcript(hierarchy, backend):
    _, _, result = hierarchy
    lines = result.transcript.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if '"certificate.issue"' in line)
    lines[i] = lines[i].replace("PSrE Uji", "PSrE Ujj", 1)
    result.transcript.write_text("\n".join(lines) + "\n")
    rep = verify(result.transcript, backend=backend, profiles=PROFILES)
    assert f"entry {i + 1} does not match its hash" in _fails(rep)["chain"]


def test_verify_detects_a_rehashed_transcript_by_its_signature(hierarchy, backend):
    """An editor who recomputes every hash still cannot forge the HSM signature."""
    from ca_core.audit import canonical_json, event_hash
    from ceremony_scripts.transcript import parse_time

    _, _, result = hierarchy
    entries = read(result.transcript)
    entries[3]["details"]["title"] = "something else"
    prev = "0" * 64
    for e in entries[:-1]:
        e["prev_hash"] = prev
        e["hash"] = event_hash(
            e["seq"],
            parse_time(e["time"]),
            e["actor"],
            e["action"],
            e["object"],
            e["details"],
            prev,
        )
        prev = e["hash"]
    entries[-1]["prev_hash"] = prev
    entries[-1]["details"]["signed_hash"] = prev
    last = entries[-1]
    last["hash"] = event_hash(
        last["seq"], parse_time(last["time"]), last["actor"], last["action"], last["object"],
        last["details"], prev,
    )  # fmt: skip
    result.transcript.write_text("".join(canonical_json(e) + "\n" for e in entries))
    rep = verify(result.transcript, backend=backend, profiles=PROFILES)
    fails = _fails(rep)
    assert "chain" not in fails
    assert fails["signature"] == "the signature does not verify"


def test_verify_detects_an_edited_output_file(hierarchy, backend, tmp_path):
    _, _, result = hierarchy
    pem = tmp_path / "out" / "ocsp.pem"
    pem.write_bytes(pem.read_bytes() + b"\n")
    fails = _fails(verify(result.transcript, backend=backend, profiles=PROFILES))
    assert "sha256 is" in fails[f"output {pem}"]
    # The certificate itself is unchanged (only its PEM layout): its check still passes.
    assert not any(k.startswith("certificate ") for k in fails)
    pem.write_text((tmp_path / "out" / "tsa.pem").read_text())  # another certificate
    fails = _fails(verify(result.transcript, backend=backend, profiles=PROFILES))
    assert "fingerprint differs" in fails["certificate CN=PSrE Uji OCSP,O=PSrE Uji,C=ID"]


def test_verify_detects_a_different_key_on_the_token(hierarchy, backend):
    _, tag, result = hierarchy
    from hsm.backend import KeySpec

    backend.delete(f"{tag}-tsa")
    backend.generate(f"{tag}-tsa", KeySpec.EC_P256)  # same label, other key
    fails = _fails(verify(result.transcript, backend=backend, profiles=PROFILES))
    assert "transcript says" in fails[f"key {tag}-tsa"]
    backend.delete(f"{tag}-tsa")
    fails = _fails(verify(result.transcript, backend=backend, profiles=PROFILES))
    assert "not on the token" in fails[f"key {tag}-tsa"]


def test_a_bad_subject_in_step_3_is_refused_before_anything_is_made(
    tmp_path, store, backend, token
):
    path, tag = ceremony_file(
        tmp_path, token.label, ROOT, ISSUING, issuing_cn="Bad & Name" + "x" * 60
    )
    before = _labels(backend)
    with pytest.raises(PreflightError, match=r"step\[3\] \(intermediate-cert\): subject.CN"):
        _run(path, store, backend)
    assert _labels(backend) == before
    assert not (tmp_path / "out").exists()
    assert store.list_cas() == []


def test_a_ceremony_failing_half_way_leaves_no_half_made_key_and_says_where(
    tmp_path, store, backend, token, monkeypatch
):
    path, tag = ceremony_file(tmp_path, token.label, ROOT, ISSUING, DELEGATED)
    monkeypatch.setenv(FAULT_ENV, "4:after key generation")  # step 4: the OCSP signer
    with pytest.raises(StepFailed, match="step 4 failed during after key generation"):
        _run(path, store, backend)
    labels = _labels(backend)
    assert {f"{tag}-root", f"{tag}-issuing"} <= labels
    assert f"{tag}-ocsp" not in labels and f"{tag}-tsa" not in labels
    c = spec.load(path)
    entries = read(c.transcript)
    stopped = next(e for e in entries if e["action"] == "ceremony.stopped")["details"]
    assert stopped["step"] == 4 and stopped["completed_steps"] == 3
    assert stopped["keys_destroyed"] == [f"{tag}-ocsp"]
    assert any("C_DestroyObject" in call for call in stopped["pkcs11_calls"])
    rep = verify(c.transcript, backend=backend, profiles=PROFILES)
    fails = _fails(rep)
    assert set(fails) == {"outcome"}, fails  # chain, signature, outputs, keys all check out
    assert fails["outcome"].startswith("FAILED at step 4 during after key generation")
    md = Path(str(c.transcript).replace(".jsonl", ".report.md")).read_text()
    assert (
        "FAILED at step 4" in md and f"destroyed (half-made in the failed step): {tag}-ocsp" in md
    )
    assert [e.action for e in store.audit.list(limit=1)] == ["ceremony.failed"]


def test_key_backup_is_refused_clearly_on_softhsm(tmp_path, store, backend, token):
    from ceremony_scripts.recording import RecordingBackend

    path, tag = ceremony_file(tmp_path, token.label, ROOT)
    _run(path, store, backend)
    backup = tmp_path / "backup.toml"
    text = path.read_text().split("[[step]]")[0].replace('name = "test"', 'name = "backup"')
    backup.write_text(
        text + f'[[step]]\ntype = "key-backup"\nkey_label = "{tag}-root"\n'
        'outputs = { wrapped = "out/root.wrapped" }\n'
    )
    problems = preflight(
        spec.load(backup), store=store, backend=RecordingBackend(backend), profiles=PROFILES
    )
    (msg,) = [p for p in problems if "key-backup" in p]
    assert "non-extractable" in msg and "CKR_KEY_UNEXTRACTABLE" in msg
    assert "AES_KEY_WRAP" in msg  # SoftHSM has the mechanism; the key forbids it


def test_dry_run_uses_a_scratch_token_and_writes_nothing(tmp_path, store, backend, token):
    path, tag = ceremony_file(tmp_path, token.label, ROOT, ISSUING, DELEGATED)
    before = _labels(backend)
    result, problems = dry_run(
        spec.load(path),
        real_store=store,
        real_backend=backend,
        module=token.module,
        profiles=PROFILES,
        base_url=BASE_URL,
        ui=QuietUi(),
    )
    assert problems == []
    assert result.outcome == "complete"
    assert {o["real_path"] for o in result.produced} == {
        str(tmp_path / "out" / n)
        for n in ("root.pem", "issuing.csr", "issuing.pem", "ocsp.pem", "tsa.pem")
    }
    assert all("certificate" in o["summary"] or "CSR" in o["summary"] for o in result.produced)
    assert _labels(backend) == before
    assert not (tmp_path / "out").exists() and store.list_cas() == []
    # The real run afterwards works, and a dry run then reports what a real run would refuse.
    _run(path, store, backend)
    _, problems = dry_run(
        spec.load(path),
        real_store=store,
        real_backend=backend,
        module=token.module,
        profiles=PROFILES,
        base_url=BASE_URL,
        ui=QuietUi(),
    )
    assert any("already exists on the token" in p for p in problems)


def test_dry_run_stands_in_for_an_existing_issuer(tmp_path, store, backend, token):
    path, tag = ceremony_file(tmp_path / "a", token.label, ROOT, ISSUING)
    _run(path, store, backend)
    later, _ = ceremony_file(
        tmp_path / "b", token.label, DELEGATED, tag=tag, sign_with=f"{tag}-issuing", name="later"
    )
    result, problems = dry_run(
        spec.load(later),
        real_store=store,
        real_backend=backend,
        module=token.module,
        profiles=PROFILES,
        base_url=BASE_URL,
        ui=QuietUi(),
    )
    assert problems == [] and result.outcome == "complete"
    assert not (tmp_path / "b" / "out").exists()
    # ... and the real one, against the real issuing CA.
    real = _run(later, store, backend)
    assert real.outcome == "complete"
    assert verify(real.transcript, backend=backend, profiles=PROFILES).ok


def test_unknown_keys_secrets_and_bad_dates_in_files_are_refused(tmp_path, token):
    from ceremony_scripts.errors import CeremonyFileError

    path, _ = ceremony_file(tmp_path, token.label, ROOT)
    text = path.read_text()
    cases = {
        "ceremony.user_pin": text.replace("[ceremony]\n", '[ceremony]\nuser_pin = "1234"\n'),
        "step[1].colour": text.replace('type = "root-key"', 'type = "root-key"\ncolour = "red"'),
        "step[1].not_after": text.replace("T23:59:59Z", "T23:59:58Z"),
        "ceremony.threshold": text.replace("threshold = 2", "threshold = 1"),
    }
    for where, body in cases.items():
        path.write_text(body)
        with pytest.raises(CeremonyFileError, match=where.replace("[", r"\[").replace("]", r"\]")):
            spec.load(path)


def test_transcript_lines_are_canonical_json(hierarchy):
    _, _, result = hierarchy
    for line in result.transcript.read_text().splitlines():
        doc = json.loads(line)
        assert set(doc) == {
            "seq", "time", "actor", "action", "object", "details", "prev_hash", "hash"
        }  # fmt: skip


def test_wrong_slot_unknown_step_type_and_stray_keys_are_refused(tmp_path, store, backend, token):
    path, tag = ceremony_file(tmp_path, token.label, ROOT)
    text = path.read_text()
    path.write_text(
        text.replace("threshold = 2", "threshold = 2\nslot = 987654").replace(
            'type = "root-key"', 'type = "root-key"\nnext_update = 2030-01-01T00:00:00Z'
        )
        + '\n[[step]]\ntype = "root-party"\nissuer = "root-ca"\n'
    )
    with pytest.raises(PreflightError) as err:
        _run(path, store, backend)
    text = str(err.value)
    assert f"token '{token.label}' is in slot {backend.slot_id}, not 987654" in text
    assert "step[1] (root-key): 'next_update' is not used by a root-key step" in text
    assert "step[2] (root-party): unknown step type (known: " in text


# --- the root CRL (ARL) step, made by the CRL service ---------------------------------------
ROOT_CRL = """
[[step]]
type = "root-crl"
title = "Root CRL"
issuer = "{root}"
next_update = "NEXT_UPDATE"
outputs = {{ crl = "out/root.crl" }}
"""


def test_root_crl_step_signs_a_lint_clean_arl_from_the_file(tmp_path, store, backend, token):
    next_update = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=60)
    step = ROOT_CRL.replace("NEXT_UPDATE", next_update.strftime("%Y-%m-%dT%H:%M:%SZ"))
    path, _ = ceremony_file(tmp_path, token.label, ROOT, ISSUING, step)
    result = _run(path, store, backend)
    der = (tmp_path / "out" / "root.crl").read_bytes()
    crl = x509.load_der_x509_crl(der)
    root = x509.load_pem_x509_certificate((tmp_path / "out" / "root.pem").read_bytes())
    issuing = x509.load_pem_x509_certificate((tmp_path / "out" / "issuing.pem").read_bytes())
    assert crl.is_signature_valid(root.public_key())
    assert crl.issuer.public_bytes() == root.subject.public_bytes()
    assert crl.next_update_utc == next_update
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
    rep = verify(result.transcript, backend=backend, profiles=PROFILES)
    assert all(c.ok for c in rep.checks), [(c.name, c.detail) for c in rep.checks if not c.ok]
