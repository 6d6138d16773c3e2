"""Running a ceremony: preflight, steps with witnesses, transcript, clean-up, signature, report.

Order of a real run:

1. **Preflight** (nothing touched): every step's keys, profile kind, key type, subject, validity,
   outputs, key labels and CA names are checked against the file, the profiles, the store and
   the token. An existing output file, key label or CA name refuses the whole ceremony.
2. **Steps**, each: ``step.start`` → the step's entries (``key.generate``, ``certificate.issue``,
   ``output.write`` …) → ``step.end`` with the PKCS#11 calls made → one ``witness.ack`` per
   witness → an audit event ``ceremony.step`` carrying the transcript hash.
3. **End**: ``ceremony.end``, the transcript signature by ``sign_transcript_with``, the report.

A step that fails stops the ceremony. Keys the failed step generated that no certificate
certifies (and no serial reservation names) are destroyed, the CA record it made without a
certificate is removed, and ``ceremony.stopped`` says which step, at which stage, and why; the
transcript is then signed if the signing key exists, and the report says FAILED. Keys of steps
that completed stay: they are whole (key + certificate) and recorded.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca_core import audit_objects
from ca_core.audit import format_time
from ca_core.errors import NotFoundError
from ca_core.issuer import Issuer
from ca_core.keycheck import spki_sha256
from ca_core.store import Store, ca_records, dry_copies, key_labels
from ca_core.store.db import utcnow
from ceremony_scripts import report as report_mod
from ceremony_scripts.errors import CeremonyError, PreflightError, StepFailed
from ceremony_scripts.modes import DRY_RUN, UNATTENDED
from ceremony_scripts.recording import RecordingBackend
from ceremony_scripts.spec import STEP_KEYS, Ceremony, StepSpec
from ceremony_scripts.steps import (
    STEP_TYPES,
    PreflightView,
    StepContext,
    StepType,
    ca_exists,
)
from ceremony_scripts.transcript import TranscriptWriter

# The PSrE Induk's step types register themselves (certify-psre, revoke-psre, cross-certify,
# import-ca-cert).
from ceremony_scripts import induk as _induk  # noqa: F401  isort: skip
from hsm.backend import KeySpec
from hsm.errors import HsmError, KeyNotFoundError
from hsm.keys import default_hash, private_key
from hsm.pin import PinSource
from hsm.pkcs11_backend import Pkcs11Backend
from hsm.softhsm import init_token, new_pin
from policies.errors import ExtensionError, SubjectError
from policies.schema import Profile
from policies.subject import build_subject


class Ui(Protocol):
    def echo(self, text: str) -> None: ...

    def acknowledge(self, witness: str, step: StepSpec, summary: str) -> bool:
        """Ask ``witness`` to confirm ``step``; True when they did."""
        ...


@dataclass
class Custody:
    """How the token was opened: which custodians' shares rebuilt the PIN (never the PIN)."""

    mode: str  # "shares" | UNATTENDED
    custodians_present: tuple[str, ...] = ()
    split_id: str | None = None
    shares_used: int = 0

    def as_details(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "custodians_present": list(self.custodians_present),
            "split_id": self.split_id,
            "shares_used": self.shares_used,
        }


@dataclass
class RunResult:
    ceremony: Ceremony
    transcript: Path
    report_md: Path
    report_html: Path
    outcome: str
    produced: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False


def report_paths(transcript: Path) -> tuple[Path, Path]:
    stem = transcript.with_suffix("")
    return stem.with_name(stem.name + ".report.md"), stem.with_name(stem.name + ".report.html")


# --- preflight ----------------------------------------------------------------------------------
@dataclass
class _Planned:
    """What the steps checked so far will make: key labels, CAs (with their notAfter) and
    output files."""

    labels: set[str] = field(default_factory=set)
    cas: dict[str, dt.datetime | None] = field(default_factory=dict)
    outputs: set[Path] = field(default_factory=set)


def preflight(
    c: Ceremony,
    *,
    store: Store,
    backend: RecordingBackend | None,
    profiles: Mapping[str, Profile],
    check_files: bool = True,
) -> list[str]:
    """Every problem that would stop the ceremony, found without touching anything."""
    problems: list[str] = []
    view = PreflightView(store, backend, profiles)
    planned = _Planned()
    token_labels: set[str] | None = None
    if backend is not None:
        token_labels = {k.label for k in backend.list_keys()}
        problems += _token_problems(c, backend)
    if check_files:
        for p in (c.transcript, *report_paths(c.transcript)):
            if p.exists():
                problems.append(f"{p} already exists (a ceremony never overwrites)")
    for st in c.steps:
        t = STEP_TYPES.get(st.type)
        if t is None:
            known = ", ".join(sorted(STEP_TYPES))
            problems.append(f"{st.where}: unknown step type (known: {known})")
            continue
        problems += _shape_problems(st, t, planned, check_files)
        problems += _profile_problems(st, t, profiles)
        problems += _made_problems(st, t, planned, token_labels, store)
        if st.issuer:
            problems += _issuer_problems(st, planned, store)
        if st.csr and st.csr not in planned.outputs and not st.csr.exists():
            problems.append(f"{st.where}: CSR {st.csr} does not exist")
        if t.check is not None:
            problems.extend(t.check(view, st))
    signer = c.sign_transcript_with
    if signer not in planned.labels and token_labels is not None and signer not in token_labels:
        problems.append(
            f"sign_transcript_with: no key '{signer}' made by the ceremony or on the token"
        )
    return problems


def _token_problems(c: Ceremony, backend: RecordingBackend) -> list[str]:
    """The token is the one the file names, in the slot it names."""
    problems = []
    if backend.token_label != c.token_label:
        problems.append(f"token is '{backend.token_label}', the file names '{c.token_label}'")
    if c.slot is not None and backend.inner.slot_id != c.slot:
        problems.append(f"token '{c.token_label}' is in slot {backend.inner.slot_id}, not {c.slot}")
    return problems


def _shape_problems(st: StepSpec, t: StepType, planned: _Planned, check_files: bool) -> list[str]:
    """The step's keys and outputs are the ones its type takes; no output exists or is
    written twice."""
    problems = []
    present = {k for k in STEP_KEYS if getattr(st, k, None) not in (None, {}, "")} - {
        "type",
        "title",
    }
    for k in t.required:
        if k not in present:
            problems.append(f"{st.where}: '{k}' is required")
    for k in present - set(t.required) - set(t.optional) - {"outputs"}:
        problems.append(f"{st.where}: '{k}' is not used by a {st.type} step")
    if set(st.outputs) != set(t.outputs):
        problems.append(
            f"{st.where}: outputs must be exactly {', '.join(t.outputs)} "
            f"(got {', '.join(sorted(st.outputs)) or 'none'})"
        )
    for role, p in st.outputs.items():
        if check_files and p.exists():
            problems.append(f"{st.where}: output {role} {p} already exists")
        if p in planned.outputs:
            problems.append(f"{st.where}: output {p} is written twice")
        planned.outputs.add(p)
    return problems


def _profile_problems(st: StepSpec, t: StepType, profiles: Mapping[str, Profile]) -> list[str]:
    """The step's profile exists, has the step type's role and kind, and allows the step's
    key type, subject and validity."""
    profile = profiles.get(st.profile) if st.profile else None
    if profile is None:
        return [f"{st.where}: unknown profile {st.profile!r}"] if st.profile else []
    problems = []
    if t.role and profile.role != t.role:
        problems.append(f"{st.where}: a {st.type} step uses a profile with role {t.role}")
    if t.profile_kind and profile.kind != t.profile_kind:
        problems.append(f"{st.where}: profile {profile.name} is for {profile.kind} certificates")
    if st.key_type and st.key_type.value not in profile.key_types:
        problems.append(
            f"{st.where}: key type {st.key_type.value} not allowed by profile "
            f"{profile.name} ({', '.join(profile.key_types)})"
        )
    if st.subject:
        try:
            build_subject(profile, st.subject)
        except (SubjectError, ExtensionError) as ex:
            problems.append(f"{st.where}: {ex.field}: {ex.reason}")
    days = st.validity_days
    if days is not None and days > profile.max_validity_days:
        problems.append(
            f"{st.where}: validity {days} days exceeds profile {profile.name}'s "
            f"{profile.max_validity_days}"
        )
    return problems


def _made_problems(
    st: StepSpec, t: StepType, planned: _Planned, token_labels: set[str] | None, store: Store
) -> list[str]:
    """A key label or CA name the step makes is new: not made twice, not on the token or in
    the store already."""
    problems = []
    if t.makes_key and st.key_label:
        if st.key_label in planned.labels:
            problems.append(f"{st.where}: key label {st.key_label} is made twice")
        if token_labels is not None and st.key_label in token_labels:
            problems.append(f"{st.where}: key label '{st.key_label}' already exists on the token")
        planned.labels.add(st.key_label)
    if t.makes_ca and st.ca:
        if st.ca in planned.cas or ca_exists(store, st.ca):
            problems.append(f"{st.where}: CA '{st.ca}' already exists")
        planned.cas[st.ca] = st.not_after
    return problems


def _issuer_problems(st: StepSpec, planned: _Planned, store: Store) -> list[str]:
    """The issuer exists (in the store with a certificate, or made by an earlier step) and
    outlives what the step makes."""
    assert st.issuer
    problems = []
    issuer_end: dt.datetime | None = None
    if st.issuer in planned.cas:
        issuer_end = planned.cas[st.issuer]
    elif ca_exists(store, st.issuer):
        ca = store.get_ca(st.issuer)
        if ca.certificate_der is None:
            problems.append(f"{st.where}: issuer CA '{st.issuer}' has no certificate")
        else:
            issuer_end = x509.load_der_x509_certificate(ca.certificate_der).not_valid_after_utc
    else:
        problems.append(f"{st.where}: issuer CA '{st.issuer}' does not exist")
    if issuer_end and st.not_after and st.not_after > issuer_end:
        problems.append(
            f"{st.where}: not_after outlives the issuer {st.issuer} "
            f"({issuer_end:%Y-%m-%dT%H:%M:%SZ})"
        )
    return problems


# --- running ------------------------------------------------------------------------------------
def run(
    c: Ceremony,
    *,
    store: Store,
    backend: Pkcs11Backend,
    profiles: Mapping[str, Profile],
    base_url: str,
    ui: Ui,
    custody: Custody,
    unattended: bool,
    dry_run: bool = False,
    remap: Callable[[Path], Path] = lambda p: p,
    transcript_path: Path | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> RunResult:
    """Run a ceremony on ``backend`` (already logged in through ``custody``)."""
    rec = RecordingBackend(backend)
    problems = preflight(c, store=store, backend=rec, profiles=profiles, check_files=not dry_run)
    rec.take()
    if problems:
        raise PreflightError(problems)
    path = transcript_path or c.transcript
    md_path, html_path = report_paths(path)
    issuer = Issuer(store, rec, profiles, base_url=base_url, clock=clock)
    tw = TranscriptWriter(path, clock=clock)
    mode = DRY_RUN if dry_run else (UNATTENDED if unattended else "attended")
    start = {
        "mode": mode,
        "unattended": unattended,
        "dry_run": dry_run,
        "base_url": base_url,
        "custody": custody.as_details(),
    }
    _record_start(c, tw, store, path, start)
    ctx = StepContext(c, store, rec, issuer, profiles, tw, c.operator, remap)
    failure: StepFailed | None = None
    for st in c.steps:
        failure = _run_step(ctx, st, ui, mode, ask_witnesses=not (unattended or dry_run))
        if failure is not None:
            break
    _record_end(ctx, ui, mode, failure)
    report_mod.write(tw.path, md_path, html_path)
    outcome = "complete" if failure is None else "failed"
    result = RunResult(c, path, md_path, html_path, outcome, ctx.produced, dry_run)
    if failure is not None:
        raise failure
    return result


def _record_start(
    c: Ceremony, tw: TranscriptWriter, store: Store, path: Path, start: Mapping[str, Any]
) -> None:
    """``ceremony.start``: the whole file and how the ceremony runs, in the transcript; its
    hash and mode in the audit log."""
    tw.append(
        c.operator,
        "ceremony.start",
        audit_objects.ceremony(c.name),
        {
            "name": c.name,
            "file": str(c.path),
            "file_sha256": c.sha256,
            "file_text": c.text,
            "token_label": c.token_label,
            "slot": c.slot,
            "operator": c.operator,
            "custodians_expected": list(c.custodians),
            "threshold": c.threshold,
            "witnesses": list(c.witnesses),
            "mode": start["mode"],
            "unattended": start["unattended"],
            "dry_run": start["dry_run"],
            "base_url": start["base_url"],
            "custody": start["custody"],
            "steps": [{"step": s.number, "type": s.type, "title": s.title} for s in c.steps],
        },
    )
    store.audit.append(
        c.operator,
        "ceremony.start",
        audit_objects.ceremony(c.name),
        {"file_sha256": c.sha256, "mode": start["mode"], "transcript": str(path)},
    )


def _run_step(
    ctx: StepContext, st: StepSpec, ui: Ui, mode: str, *, ask_witnesses: bool
) -> StepFailed | None:
    """One step: run, its PKCS#11 calls, each witness's acknowledgement, the audit event.
    A failure is recorded and the step's half-made keys and CA undone (:func:`_stop`)."""
    c, tw = ctx.ceremony, ctx.transcript
    t = STEP_TYPES[st.type]
    ctx.step, ctx.stage, ctx.made_keys, ctx.made_cas = st, "start", [], []
    ui.echo(f"step {st.number}: {st.title} ({st.type})")
    tw.append(
        c.operator,
        "step.start",
        audit_objects.ceremony_step(st.number),
        {"step": st.number, "type": st.type, "title": st.title, "summary": t.summary},
    )
    try:
        t.run(ctx, st)
        calls = ctx.backend.take()
        end = tw.append(
            c.operator,
            "step.end",
            audit_objects.ceremony_step(st.number),
            {"step": st.number, "pkcs11_calls": calls},
        )
        ctx.at("witnesses")
        for w in c.witnesses:
            if not ask_witnesses:
                tw.append(
                    w,
                    "witness.ack",
                    audit_objects.ceremony_step(st.number),
                    {"step": st.number, "ack": mode},
                )
            elif ui.acknowledge(w, st, t.summary):
                tw.append(
                    w,
                    "witness.ack",
                    audit_objects.ceremony_step(st.number),
                    {"step": st.number, "ack": "confirmed (typed their name)"},
                )
            else:
                raise CeremonyError(f"witness {w} did not confirm step {st.number}")
        ctx.store.audit.append(
            c.operator,
            "ceremony.step",
            audit_objects.ceremony(c.name),
            {
                "step": st.number,
                "type": st.type,
                "transcript_hash": end.hash,
                "witnesses": list(c.witnesses),
                "mode": mode,
            },
        )
    except Exception as ex:
        failure = StepFailed(st.number, ctx.stage, str(ex).splitlines()[0])
        _stop(ctx, st, failure)
        return failure
    return None


def _record_end(ctx: StepContext, ui: Ui, mode: str, failure: StepFailed | None) -> None:
    """``ceremony.end``, the transcript's signature (a failed ceremony's too, if the key
    exists), and the audit event of the outcome."""
    c, tw = ctx.ceremony, ctx.transcript
    tw.append(
        c.operator,
        "ceremony.end",
        audit_objects.ceremony(c.name),
        {
            "outcome": "complete" if failure is None else "failed",
            "stopped_at_step": failure.step if failure else None,
            "outputs": ctx.produced,
        },
    )
    try:
        tw.sign(ctx.backend, c.sign_transcript_with, audit_objects.ceremony(c.name))
    except (HsmError, KeyNotFoundError) as ex:
        if failure is None:
            raise
        ui.echo(f"transcript not signed: {ex}")
    finally:
        tw.close()
    ctx.store.audit.append(
        c.operator,
        "ceremony.complete" if failure is None else "ceremony.failed",
        audit_objects.ceremony(c.name),
        {
            "transcript_head": tw.head,
            "stopped_at_step": failure.step if failure else None,
            "mode": mode,
        },
    )


def _stop(ctx: StepContext, st: StepSpec, failure: StepFailed) -> None:
    """Record the failure and undo what the failed step left half-made."""
    destroyed: list[str] = []
    kept: list[dict[str, str]] = []
    removed_cas: list[str] = []
    for label in ctx.made_keys:
        why = _key_in_use(ctx, label)
        if why:
            kept.append({"label": label, "why": why})
            continue
        try:
            ctx.backend.delete(label)
            destroyed.append(label)
        except HsmError as ex:
            kept.append({"label": label, "why": f"could not destroy: {ex}"})
    note = ca_records.AuditNote(
        ctx.actor, "ca.remove", {"reason": f"ceremony {ctx.ceremony.name} step {st.number} failed"}
    )
    for name in ctx.made_cas:
        # A reservation under it means an issuance to recover: the record stays.
        if ca_records.remove_uncertified(ctx.store, name, note, drop_reservations=False):
            removed_cas.append(name)
    ctx.transcript.append(
        ctx.actor,
        "ceremony.stopped",
        audit_objects.ceremony_step(st.number),
        {
            "step": st.number,
            "type": st.type,
            "stage": failure.stage,
            "reason": failure.reason,
            "completed_steps": st.number - 1,
            "keys_destroyed": destroyed,
            "keys_kept": kept,
            "cas_removed": removed_cas,
            "pkcs11_calls": ctx.backend.take(),
        },
    )


def _key_in_use(ctx: StepContext, label: str) -> str | None:
    """Why a key of the failed step must stay (certified, or a serial reserved for it)."""
    try:
        fp = spki_sha256(ctx.backend.inner.public_key(label))
    except HsmError:
        return None
    if key_labels.certified(ctx.store, fp):
        return "a stored certificate certifies it"
    if key_labels.serial_reserved_for(ctx.store, label):
        return "a serial was reserved for it (recover the issuance first)"
    return None


# --- dry run ------------------------------------------------------------------------------------
#: One scratch token per process and module: SoftHSM cannot have a token deleted under a loaded
#: library (later slot look-ups fail with CKR_GENERAL_ERROR), so it is emptied after each dry
#: run and deleted from disk when the process exits.
_SCRATCH: dict[str, tuple[str, str]] = {}


def _delete_scratch_tokens() -> None:
    for label, _pin in _SCRATCH.values():
        subprocess.run(
            ["softhsm2-util", "--delete-token", "--token", label], capture_output=True, check=False
        )


@contextmanager
def scratch_token(module: str) -> Iterator[Pkcs11Backend]:
    """An empty throwaway SoftHSM token with a random PIN; emptied again afterwards.

    It lives in the token directory SoftHSM already uses (SOFTHSM2_CONF), or in a temporary
    one when this process has not loaded SoftHSM yet (e.g. production on another HSM).
    """
    if module not in _SCRATCH:
        if not os.environ.get("SOFTHSM2_CONF"):
            from hsm.softhsm import write_softhsm_conf

            tmp = Path(tempfile.mkdtemp(prefix="psre-dryrun-hsm-"))
            write_softhsm_conf(tmp / "softhsm2.conf", tmp / "tokens")
            atexit.register(shutil.rmtree, tmp, True)
        label, user_pin = f"dryrun-{secrets.token_hex(4)}", new_pin()
        init_token(module, label, new_pin(), user_pin)
        if not _SCRATCH:
            atexit.register(_delete_scratch_tokens)
        _SCRATCH[module] = (label, user_pin)
    label, user_pin = _SCRATCH[module]
    backend = Pkcs11Backend(module, label, PinSource.literal(user_pin))
    try:
        for k in _safe_list(backend):
            backend.delete(k)
        yield backend
    finally:
        for k in _safe_list(backend):
            backend.delete(k)
        backend.close()


def _safe_list(backend: Pkcs11Backend) -> list[str]:
    try:
        return [k.label for k in backend.list_keys()]
    except HsmError:
        return []


def _stand_in(real: Store, scratch: Store, backend: Pkcs11Backend, name: str) -> None:
    """A scratch copy of an existing CA: same name, subject, validity, key type; new key."""
    ca = real.get_ca(name)
    if ca.certificate_der is None:
        raise CeremonyError(f"CA {name} has no certificate")
    cert = x509.load_der_x509_certificate(ca.certificate_der)
    backend.generate(ca.key_label, KeySpec.parse(ca.key_spec))
    key = private_key(backend, ca.key_label)
    b = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        if isinstance(ext.value, x509.SubjectKeyIdentifier):
            b = b.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), ext.critical
            )
        else:
            b = b.add_extension(ext.value, ext.critical)
    stand_in = b.sign(key, default_hash(key))
    scratch.add_ca(
        name,
        ca.subject_dn,
        ca.key_label,
        ca.key_spec,
        certificate_der=stand_in.public_bytes(serialization.Encoding.DER),
    )


def _copy_certificate(real: Store, scratch: Store, issuer: str, serial: str) -> None:
    """The row of a certificate a status step changes, so the dry run changes a copy of it."""
    try:
        row = real.get_certificate(real.get_ca(issuer).id, serial)
    except NotFoundError:
        return  # the preflight on the real store reports it
    dry_copies.copy_certificate(scratch, row, scratch.get_ca(issuer).id)


def dry_run(
    c: Ceremony,
    *,
    real_store: Store,
    real_backend: Pkcs11Backend | None,
    module: str,
    profiles: Mapping[str, Profile],
    base_url: str,
    ui: Ui,
    clock: Callable[[], dt.datetime] = utcnow,
) -> tuple[RunResult, list[str]]:
    """Run everything against a scratch token and a scratch database; write nothing real.

    Returns the scratch result (outputs are listed under the paths a real run would write) and
    the problems a real run would be refused for (existing outputs, labels, CAs).
    """
    rec_real = RecordingBackend(real_backend) if real_backend is not None else None
    real_problems = preflight(c, store=real_store, backend=rec_real, profiles=profiles)
    work = Path(tempfile.mkdtemp(prefix="psre-dryrun-"))
    made = {
        st.ca for st in c.steps if st.ca and st.type in STEP_TYPES and STEP_TYPES[st.type].makes_ca
    }
    made_keys = {
        st.key_label for st in c.steps if STEP_TYPES.get(st.type) and STEP_TYPES[st.type].makes_key
    }
    try:
        scratch = Store.open(f"sqlite:///{work / 'scratch.sqlite3'}")
        try:
            with scratch_token(module) as sb:
                for st in c.steps:
                    if st.issuer and st.issuer not in made and not ca_exists(scratch, st.issuer):
                        _stand_in(real_store, scratch, sb, st.issuer)
                    if st.serial and st.issuer and st.issuer not in made:
                        _copy_certificate(real_store, scratch, st.issuer, st.serial)
                    t = STEP_TYPES.get(st.type)
                    if t is not None and t.dry_copy is not None and st.issuer not in made:
                        t.dry_copy(real_store, scratch, st)
                if c.sign_transcript_with not in made_keys | {k.label for k in sb.list_keys()}:
                    # The signing key exists only on the real token: a scratch stand-in signs.
                    sb.generate(c.sign_transcript_with, KeySpec.EC_P256)
                dry = dataclasses.replace(c, token_label=sb.token_label, slot=None)

                def remap(p: Path) -> Path:
                    try:
                        return work / "out" / p.relative_to(c.base_dir)
                    except ValueError:
                        return work / "out" / p.name

                result = run(
                    dry,
                    store=scratch,
                    backend=sb,
                    profiles=profiles,
                    base_url=base_url,
                    ui=ui,
                    custody=Custody(DRY_RUN),
                    unattended=True,
                    dry_run=True,
                    remap=remap,
                    transcript_path=work / "transcript.jsonl",
                    clock=clock,
                )
                back = {str(remap(p)): p for st in c.steps for p in st.outputs.values()}
                for o in result.produced:
                    o["real_path"] = str(back.get(o["path"], o["path"]))
                    o["summary"] = _describe(Path(o["path"]))
        finally:
            scratch.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result, real_problems


def _describe(path: Path) -> str:
    data = path.read_bytes()
    if b"CERTIFICATE REQUEST" in data:
        csr = x509.load_pem_x509_csr(data)
        return f"CSR {csr.subject.rfc4514_string()}"
    if b"CERTIFICATE" in data:
        cert = x509.load_pem_x509_certificate(data)
        return (
            f"certificate {cert.subject.rfc4514_string()} issued by "
            f"{cert.issuer.rfc4514_string()}, {format_time(cert.not_valid_before_utc)[:19]}Z.."
            f"{format_time(cert.not_valid_after_utc)[:19]}Z"
        )
    return f"{len(data)} bytes"
