"""CA-level status changes the legitimate way (two admins), for tests that need a revoked,
suspended or expired CA above their signers."""

from __future__ import annotations

import datetime as dt

from ca_core.approvals import approve, propose
from ca_core.ca_level import Authorisation
from ca_core.store.models import Certificate
from tests.pki_support import Pki
from tests.web_support import operator
from web.approval_actions import executors

TTL = dt.timedelta(minutes=30)

#: For tests whose subject is not the authority boundary but that need a CA-level certificate
#: (an OCSP responder's, a TSA unit's) revoked: what a witnessed ceremony step passes.
WITNESSED = Authorisation("ceremony", "ceremony:test:step:1", ("Test Operator", "Witness 1"))


def ca_certificate(pki: Pki, name: str) -> Certificate:
    """The stored row of CA ``name``'s own certificate (the issuing CA's is under the root)."""
    ca = pki.store.get_ca(name)
    with pki.store.session() as s:
        row = s.query(Certificate).filter_by(fingerprint_sha256=ca.fingerprint_sha256).one()
        s.expunge(row)
    return row


def two_admins(pki: Pki) -> tuple[str, str]:
    return operator(pki, "admin"), operator(pki, "admin")


def change_ca_status(pki: Pki, name: str, action: str = "revoke", reason: str = "keyCompromise"):
    """Revoke / suspend / release CA ``name``'s certificate: one admin proposes, another
    approves. Returns the decided proposal."""
    row = ca_certificate(pki, name)
    issuer = next(c.name for c in pki.store.list_cas() if c.id == row.issuer_id)
    first, second = two_admins(pki)
    params = {"reason": reason} if action == "revoke" else {}
    p = propose(
        pki.store,
        f"certificate.{action}",
        f"certificate:{issuer}:{row.serial_hex}",
        params,
        actor=first,
        ttl=TTL,
    )
    return approve(pki.store, p.id, actor=second, executors=executors(pki.store, pki.revoker))
