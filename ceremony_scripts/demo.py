"""The demo ceremonies ``psre init`` runs unattended on the dev token.

The files in ``ceremony_scripts/demo/`` are templates: the dates (a 90-day OCSP responder cannot
have fixed ones), the token label and a run stamp are filled in, and the rendered file is written
under ``<data_dir>/ceremonies/`` before it runs, so the transcript's file hash is the hash of a
real file on disk. Each ceremony runs only when what it makes is missing, so a second
``psre init`` changes nothing.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable
from pathlib import Path

from ca_core import audit_objects
from ca_core.cli_actor import cli_actor
from ca_core.clock import Clock, utcnow
from ca_core.store import ReadOnlyStore, Store, ca_records, service_certs
from ceremony_scripts import spec
from ceremony_scripts.runner import UNATTENDED, Custody, RunResult, run
from ceremony_scripts.spec import StepSpec
from ceremony_scripts.steps import ca_exists
from hsm.errors import KeyNotFoundError
from hsm.pkcs11_backend import Pkcs11Backend
from policies.roles import names_with_role
from policies.schema import Role

TEMPLATES = Path(__file__).parent / "demo"
ROOT, ISSUING = "root-ca", "issuing-ca"


class _EchoUi:
    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo

    def acknowledge(self, witness: str, step: StepSpec, summary: str) -> bool:  # pragma: no cover
        return True  # unattended: never asked


def _has_ca(store: ReadOnlyStore, name: str) -> bool:
    return ca_exists(store, name) and store.get_ca(name).certificate_der is not None


def _has_delegated(store: ReadOnlyStore, role: Role, now: dt.datetime) -> bool:
    """A live certificate of a profile with ``role`` from the issuing CA, key on the token."""
    if not _has_ca(store, ISSUING):
        return False
    ca = store.get_ca(ISSUING)
    found = service_certs.newest_with_key(store, names_with_role(role), now, issuer_id=ca.id)
    return found is not None


def _clear_interrupted(
    store: Store,
    backend: Pkcs11Backend,
    ca_name: str,
    key_label: str,
    what: str,
    echo: Callable[[str], None],
) -> None:
    """Remove what an earlier ``psre init``, killed half-way through this demo ceremony, left:
    its CA record without a certificate (and that CA's serial reservations) and its key.

    Only for the demo hierarchy on the dev token, and only while the CA has no certificate:
    nothing was ever issued under it and its certificate (if the HSM signed one before the
    process died) never left the process. The ceremony then runs again from its first step. A
    production ceremony's preflight refuses such leftovers instead; operators decide there.
    """
    removed: list[str] = []
    record = f"CA record '{ca_name}' (no certificate)"
    # The record goes with its reservations: nothing issued under it ever left the process.
    if ca_records.remove_uncertified(store, ca_name, _resume_note(record), drop_reservations=True):
        removed.append(record)
    if not ca_records.key_certified(store, key_label):
        # Any object with the label: a process killed inside key generation can leave half a
        # pair, which list_keys does not show but which blocks the label.
        try:
            backend.delete(key_label)
        except KeyNotFoundError:
            pass
        else:
            removed.append(f"key '{key_label}'")
            note = _resume_note(removed[-1])
            store.audit.append(note.actor, note.action, audit_objects.ca(ca_name), note.details)
    if removed:
        echo(
            f"an earlier psre init stopped half-way through the {what} ceremony: removed "
            f"{', '.join(removed)}; running it again"
        )


def _resume_note(what: str) -> ca_records.AuditNote:
    return ca_records.AuditNote(
        cli_actor(),  # whoever ran `psre init` (BR 5.4.1)
        "demo.resume",
        {"removed": what, "reason": "an earlier psre init stopped half-way"},
    )


def render(template: Path, out_dir: Path, token_label: str, now: dt.datetime) -> Path:
    """Fill a demo template's ${...} values and write it under ``out_dir``; returns the file."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    # An init killed and run again within the same second would meet its own files (a ceremony
    # never overwrites): the rerun takes the next free suffix instead.
    base, n = stamp, 0
    while (out_dir / f"{stamp}-{template.name}").exists():
        n += 1
        stamp = f"{base}-{n}"

    def end(days: int) -> str:
        return _z(today + dt.timedelta(days=days) - dt.timedelta(seconds=1))

    values = {
        "stamp": stamp,
        "token_label": token_label,
        "today": _z(today),
        "root_not_after": end(7300),
        "issuing_not_after": end(3650),
        "ocsp_not_after": end(90),
        "tsa_not_after": end(1825),
        # BR 4.9.7: a CA-level CRL at least every 12 months.
        "root_crl_next_update": end(365),
    }
    text = string.Template(template.read_text(encoding="utf-8")).substitute(values)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stamp}-{template.name}"
    path.write_text(text, encoding="utf-8")
    return path


def _z(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def ensure_demo_ceremonies(
    store: Store,
    backend: Pkcs11Backend,
    *,
    ceremonies_dir: Path,
    token_label: str,
    base_url: str,
    echo: Callable[[str], None] = print,
    clock: Clock = utcnow,
) -> list[RunResult]:
    """Run whichever demo ceremonies have not produced their result yet, on the token
    ``token_label`` of ``backend``; the rendered ceremony files go to ``ceremonies_dir``."""
    from policies.schema import load_profiles

    now = clock().replace(microsecond=0)
    plan = [
        ("01-root.toml", lambda: _has_ca(store, ROOT), f"demo root CA '{ROOT}'"),
        ("02-issuing.toml", lambda: _has_ca(store, ISSUING), f"demo issuing CA '{ISSUING}'"),
        (
            "03-ocsp-signer.toml",
            lambda: _has_delegated(store, "ocsp-responder", now),
            "demo OCSP signer",
        ),
        ("04-tsa.toml", lambda: _has_delegated(store, "tsa", now), "demo TSA"),
    ]
    # What an interrupted run of the first two can leave behind (the others' labels are stamped).
    leftovers = {
        "01-root.toml": (ROOT, "demo-root-ca"),
        "02-issuing.toml": (ISSUING, "demo-issuing-ca"),
    }
    results = []
    profiles = load_profiles()
    for name, done, what in plan:
        if done():
            continue
        if name in leftovers:
            _clear_interrupted(store, backend, *leftovers[name], what, echo)
        path = render(TEMPLATES / name, ceremonies_dir, token_label, now)
        c = spec.load(path)
        result = run(
            c,
            store=store,
            backend=backend,
            profiles=profiles,
            base_url=base_url,
            ui=_EchoUi(lambda _t: None),
            custody=Custody(UNATTENDED),
            unattended=True,
            clock=clock,
        )
        certs = [o for o in result.produced if o["role"] == "certificate"]
        echo(f"{what} created by ceremony {c.name} ({UNATTENDED}); transcript {result.transcript}")
        for o in certs:
            echo(f"  {o['path']} sha256 {o['sha256']}")
        results.append(result)
    return results
