"""Issuing-CA rollover: which CA issues now, the switch at a stated time, and retirement.

A rollover ceremony (ceremony_scripts/rollover/) makes the new issuing CA and ends with an
``issuance-switch`` step: from the stated time the new CA issues and the old one no longer does
(``issuance_windows``). The old CA stays ``active`` — its CRLs are re-signed and its OCSP
responses pre-signed as before, and it may still certify a delegated OCSP responder for itself —
until its last certificate has expired *and* a CRL has been published after that expiry (so the
last revocations were on a CRL that relying parties could fetch after notAfter); then the
periodic lifecycle work retires it (``ca.retire``), and CRL/OCSP publication for it stops.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from ca_core.errors import CaError
from ca_core.store import ReadOnlyStore, Store, issuance_windows
from ca_core.store.models import CertificateAuthority, IssuanceWindow
from policies.roles import names_with_role

#: Profiles an issuing CA may still issue after its switch: its own delegated OCSP responder,
#: which must stay valid for as long as the CA's certificates need status.
AFTER_SWITCH = names_with_role("ocsp-responder")


class RolloverError(CaError):
    code = "rollover"


def _refusal(ca: CertificateAuthority, w: IssuanceWindow | None, now: dt.datetime) -> str | None:
    """Why ``ca`` may not issue end-entity certificates at ``now`` (None: it may)."""
    if ca.status != "active" or ca.certificate_der is None:
        return f"issuing CA {ca.name} is {ca.status if ca.certificate_der else 'not certified'}"
    cert = x509.load_der_x509_certificate(ca.certificate_der)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return f"issuing CA {ca.name}'s certificate is not valid at {_z(now)}"
    if w is not None and w.issue_from is not None and now < w.issue_from:
        return f"issuing CA {ca.name} starts issuing at {_z(w.issue_from)}"
    if w is not None and w.issue_until is not None and now >= w.issue_until:
        return f"issuing CA {ca.name} stopped issuing at {_z(w.issue_until)} (rollover)"
    return None


def default_issuing_ca(store: ReadOnlyStore, now: dt.datetime) -> str:
    """The one issuing CA that issues at ``now``."""
    windows = issuance_windows.windows(store)
    issuing = [ca for ca in store.list_cas() if ca.parent_id is not None]
    if not issuing:
        raise CaError("no issuing CA exists yet (psre ca create-issuing, or psre init)")
    live = [ca.name for ca in issuing if _refusal(ca, windows.get(ca.id), now) is None]
    if len(live) == 1:
        return live[0]
    if not live:
        raise RolloverError(f"no issuing CA issues at {_z(now)}: choose one with --ca")
    raise CaError(f"several issuing CAs ({', '.join(live)}): choose one with --ca")


def check_may_issue(store: ReadOnlyStore, ca_name: str, profile: str, now: dt.datetime) -> None:
    """Refuse a certificate of ``profile`` from ``ca_name`` outside its issuance window."""
    if profile in AFTER_SWITCH:
        return
    ca = store.get_ca(ca_name)
    if ca.parent_id is None:
        return  # a root certifies CAs in ceremonies; not subject to issuing-CA windows
    why = _refusal(ca, issuance_windows.windows(store).get(ca.id), now)
    if why is not None:
        raise RolloverError(why)


def switch(store: Store, *, old: str, new: str, at: dt.datetime, actor: str) -> None:
    """From ``at`` on, ``new`` issues and ``old`` does not (audited as ca.issuance_switch)."""
    old_ca, new_ca = store.get_ca(old), store.get_ca(new)
    if old_ca.parent_id is None or new_ca.parent_id is None:
        raise RolloverError("both CAs of a switch must be issuing CAs")
    if old_ca.id == new_ca.id:
        raise RolloverError("a CA cannot replace itself")
    if new_ca.certificate_der is None:
        raise RolloverError(f"{new} has no certificate yet")
    cert = x509.load_der_x509_certificate(new_ca.certificate_der)
    if not cert.not_valid_before_utc <= at < cert.not_valid_after_utc:
        raise RolloverError(f"{new}'s certificate is not valid at the switch time {_z(at)}")
    issuance_windows.switch(
        store,
        old_id=old_ca.id,
        new_id=new_ca.id,
        new_name=new,
        at=at,
        actor=actor,
        details={"replaces": old, "at": _z(at)},
    )


def retire_finished(store: Store, now: dt.datetime, actor: str = "system") -> list[str]:
    """Retire each issuing CA past its switch whose certificates have all expired and whose
    newest CRL came out after the last of them expired; returns their names."""
    retired: list[str] = []
    windows = issuance_windows.windows(store)
    for ca in store.list_cas():
        w = windows.get(ca.id)
        if ca.status != "active" or w is None or w.issue_until is None or now < w.issue_until:
            continue
        if issuance_windows.retire_if(store, ca.id, ca.name, _ready(now), actor=actor):
            retired.append(ca.name)
    return retired


def _ready(now: dt.datetime) -> issuance_windows.RetireRule:
    """Retire once every certificate has expired and a complete CRL came out after the last
    expiry (its revocations were on a CRL relying parties could fetch after notAfter)."""

    def rule(
        last_expiry: dt.datetime | None, last_crl: dt.datetime | None
    ) -> dict[str, str | None] | None:
        if last_expiry is not None and (
            last_expiry >= now or last_crl is None or last_crl <= last_expiry
        ):
            return None
        return {
            "last_certificate_expired": _z(last_expiry) if last_expiry else None,
            "last_crl": _z(last_crl) if last_crl else None,
        }

    return rule


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
