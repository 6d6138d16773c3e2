"""Subscribers — civil servants (by NIK) and agencies (for seals) — and their certificates.

Status follows the e-sign API (reference: bsre-esign-api.md): NEW at enrolment, ISSUE once a
signing certificate exists, SUSPEND while it is on hold, REVOKE after revocation, EXPIRED when it
ran out, RENEW while a renewal is pending. Keys for remote signing are generated in the HSM for
the subscriber; the passphrase that authorises their use is chosen by the subscriber alone
(signing_api.enrolment) and kept only as a scrypt hash.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from ca_core import audit_objects
from ca_core.errors import CaError
from ca_core.issuer import Issued, Issuer, IssueRequest
from ca_core.revocation import Revoker
from ca_core.store import Store
from ca_core.store.models import SUBSCRIBER_STATUSES, Subscriber
from ca_core.store.subscribers import SubscriberReads, Subscribers
from hsm.backend import KeyBackend, KeySpec
from policies.roles import signing_profile_for
from policies.schema import Profile
from policies.subject import mailbox_problem

NIK_RE = re.compile(r"[0-9]{16}")
ORG_ID_RE = re.compile(r"NTRID-[0-9A-Z]{1,58}")
MIN_PASSPHRASE = 8


class SubscriberError(CaError):
    code = "subscriber_invalid"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Enrolment:
    name: str
    email: str
    nik: str | None = None
    agency: str | None = None
    organization_identifier: str | None = None
    kind: str = "person"


def _validate(e: Enrolment) -> None:
    if e.kind not in ("person", "agency"):
        raise SubscriberError("kind", "must be person or agency")
    if e.kind == "person":
        if e.nik is None or not NIK_RE.fullmatch(e.nik):
            raise SubscriberError("nik", "NIK must be exactly 16 digits")
        if not e.agency:
            raise SubscriberError("agency", "a civil servant's agency is required")
    elif e.organization_identifier is None or not ORG_ID_RE.fullmatch(e.organization_identifier):
        raise SubscriberError("organization_identifier", "must be NTRID-<registration id>")
    if not e.name.strip() or e.name != e.name.strip():
        raise SubscriberError("name", "must be non-empty without leading or trailing spaces")
    problem = mailbox_problem(e.email)
    if problem:
        raise SubscriberError("email", f"{e.email!r}: {problem}")


def enrol(store: Store, e: Enrolment, *, actor: str) -> Subscriber:
    """Register a subscriber (status NEW), without a passphrase: the subscriber sets their own
    through an enrolment code (signing_api.enrolment), so that nobody else ever knows it."""
    _validate(e)
    sub = store.add_subscriber(
        kind=e.kind,
        name=e.name,
        email=e.email,
        nik=e.nik,
        agency=e.agency,
        organization_identifier=e.organization_identifier,
    )
    store.audit.append(
        actor,
        "subscriber.add",
        audit_objects.subscriber_record(sub.nik, sub.organization_identifier),
        {"kind": e.kind, "agency": e.agency},
    )
    return sub


def subject_for(profile: Profile, sub: Subscriber) -> tuple[dict[str, str], list[str]]:
    """Subject attributes and SAN e-mails a profile takes from a subscriber record (the
    profile's ``[subscriber]`` table says which)."""
    mapping = profile.subscriber
    if mapping is None:
        raise SubscriberError("profile", f"profile {profile.name} is not issued to subscribers")
    if sub.kind not in mapping.kinds:
        raise SubscriberError(
            "profile", f"profile {profile.name} is not issued to {sub.kind} subscribers"
        )
    # The name splits at its last space; a one-word name is a given name only.
    first, _, last = sub.name.rpartition(" ")
    record = {
        "name": sub.name,
        "email": sub.email,
        "nik": sub.nik,
        "agency": sub.agency,
        "organization_identifier": sub.organization_identifier,
        "given_name": first or last,
        "surname": last if first else "",
    }
    return mapping.apply(profile, record)


def _profile_for(issuer: Issuer, sub: Subscriber, name: str | None) -> Profile:
    """Profile ``name``, or without one the subscriber's signing (person) or seal (agency)."""
    if name is None:
        return signing_profile_for(sub.kind, issuer.profiles)
    profile = issuer.profiles.get(name)
    if profile is None:
        raise SubscriberError("profile", f"unknown profile {name}")
    return profile


def issue_for(
    issuer: Issuer,
    backend: KeyBackend,
    *,
    key: str,
    ca: str,
    profile: str | None = None,
    key_spec: KeySpec = KeySpec.EC_P256,
    actor: str,
    idempotency_key: str | None = None,
    renewal: bool = False,
    validity_days: int | None = None,
) -> Issued:
    """Generate the subscriber's key in the HSM and issue their certificate.

    ``key`` is the NIK of a person or the organizationIdentifier of an agency. If issuance is
    refused, the new key is destroyed again: no orphan keys on the token.
    """
    sub = _get(issuer.store, key)
    chosen = _profile_for(issuer, sub, profile)
    subject, emails = subject_for(chosen, sub)
    label = f"sub-{sub.id}-{secrets.token_hex(4)}"
    backend.generate(label, key_spec)
    try:
        return issuer.issue(
            ca,
            IssueRequest(
                profile=chosen.name,
                subject=subject,
                emails=emails,
                public_key=backend.public_key(label),  # type: ignore[arg-type]
                validity_days=validity_days,
                subscriber_id=sub.id,
                key_label=label,
                idempotency_key=idempotency_key,
                actor=actor,
                renewal=renewal,
            ),
        )
    except BaseException:
        backend.delete(label)
        raise


def renew(
    issuer: Issuer,
    revoker: Revoker,
    backend: KeyBackend,
    *,
    key: str,
    ca: str,
    profile: str | None = None,
    key_spec: KeySpec = KeySpec.EC_P256,
    actor: str,
) -> Issued:
    """Re-key: a new key and certificate; the old certificates of the profile are superseded.

    Without ``profile``, the subscriber's signing (person) or seal (agency) profile."""
    store = issuer.store
    sub = _get(store, key)
    profile = _profile_for(issuer, sub, profile).name
    set_status(store, key, "RENEW", actor=actor)
    old = SubscriberReads(store).unrevoked_serials(sub.id, profile)
    issued = issue_for(
        issuer,
        backend,
        key=key,
        ca=ca,
        profile=profile,
        key_spec=key_spec,
        actor=actor,
        renewal=True,
    )
    for serial in old:
        revoker.revoke(serial, "superseded", actor=actor, ca=ca)
    set_status(store, key, "ISSUE", actor=actor)
    return issued


def set_status(store: Store, key: str, status: str, *, actor: str) -> None:
    if status not in SUBSCRIBER_STATUSES:
        raise SubscriberError("status", f"must be one of {', '.join(SUBSCRIBER_STATUSES)}")
    sub = _get(store, key)
    Subscribers(store).set_status(sub.id, status, actor=actor, obj=audit_objects.subscriber(key))


def expire(store: Store, *, now: dt.datetime, actor: str = "system") -> int:
    """Mark subscribers EXPIRED whose every good certificate has run out; returns the count.

    One query finds them (the periodic work calls this every few minutes, over every
    subscriber); each change is audited by set_status."""
    keys = SubscriberReads(store).run_out(now)
    for nik, org in keys:
        set_status(store, nik or org or "", "EXPIRED", actor=actor)
    return len(keys)


def _get(store: Store, key: str) -> Subscriber:
    if NIK_RE.fullmatch(key):
        return store.get_subscriber(key)
    sub = SubscriberReads(store).by_organization_identifier(key)
    if sub is None:
        raise SubscriberError("subscriber", f"no subscriber {key}")
    return sub
