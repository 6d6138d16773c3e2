"""Issuing-CA rollover in the database: each CA's issuance window, the switch that sets two of
them, and retirement (ca_core.rollover decides; this reads and writes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select

from ca_core import audit_objects
from ca_core.store import ReadOnlyStore, Store
from ca_core.store.models import Certificate, CertificateAuthority, IssuanceWindow, PublishedCrl
from ca_core.store.sessions import read_session

#: Decides retirement from (newest notAfter of the CA's certificates, thisUpdate of its newest
#: complete CRL): the audit details to record, or None to keep the CA active.
RetireRule = Callable[[dt.datetime | None, dt.datetime | None], Mapping[str, Any] | None]


def windows(store: ReadOnlyStore) -> dict[int, IssuanceWindow]:
    """CA id -> its issuance window, for the CAs that have one."""
    with read_session(store) as s:
        rows = list(s.scalars(select(IssuanceWindow)))
        for r in rows:
            s.expunge(r)
    return {w.ca_id: w for w in rows}


def switch(
    store: Store,
    *,
    old_id: int,
    new_id: int,
    new_name: str,
    at: dt.datetime,
    actor: str,
    details: Mapping[str, Any],
) -> None:
    """``old_id`` issues until ``at``, ``new_id`` from ``at``; audited as ca.issuance_switch in
    the same transaction."""
    with store.session() as s:
        for ca_id, field, value in ((old_id, "issue_until", at), (new_id, "issue_from", at)):
            w = s.get(IssuanceWindow, ca_id)
            if w is None:
                w = IssuanceWindow(ca_id=ca_id)
                s.add(w)
            setattr(w, field, value)
        store.audit.append(
            actor, "ca.issuance_switch", audit_objects.ca(new_name), details, session=s
        )


def retire_if(store: Store, ca_id: int, ca_name: str, rule: RetireRule, *, actor: str) -> bool:
    """Retire the CA when ``rule`` says so, judged and written in one transaction (audited as
    ca.retire with the rule's details); True when it was retired."""
    with store.session() as s:
        last_expiry = s.scalar(
            select(func.max(Certificate.not_after)).where(Certificate.issuer_id == ca_id)
        )
        last_crl = s.scalar(
            select(func.max(PublishedCrl.this_update)).where(
                PublishedCrl.issuer_id == ca_id, PublishedCrl.kind == "full"
            )
        )
        details = rule(last_expiry, last_crl)
        if details is None:
            return False
        row = s.get(CertificateAuthority, ca_id)
        assert row is not None
        row.status = "retired"
        store.audit.append(actor, "ca.retire", audit_objects.ca(ca_name), details, session=s)
    return True
