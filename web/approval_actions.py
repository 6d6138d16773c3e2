"""What an approved proposal does (ca_core.approvals), for the console and the tests alike.

Kept free of Flask. Each executor receives the proposal and the two-person authorisation; the
second admin (the approver) is the actor of the resulting audit event, and the CA-level
status change carries both names in its ``authorisation`` details.
"""

from __future__ import annotations

from collections.abc import Mapping

from ca_core.approvals import ApprovalError, Executor, Proposal
from ca_core.ca_level import Authorisation
from ca_core.revocation import Revoker
from ca_core.store import Store
from web.clients import set_client_enabled
from web.operators import insert_operator, set_enabled


def _certificate(p: Proposal) -> tuple[str, str]:
    kind, _, rest = p.target.partition(":")
    ca, _, serial = rest.partition(":")
    if kind != "certificate" or not ca or not serial:
        raise ApprovalError(f"bad certificate target {p.target!r}")
    return ca, serial


def _name(p: Proposal, kind: str) -> str:
    prefix, _, name = p.target.partition(":")
    if prefix != kind or not name:
        raise ApprovalError(f"bad {kind} target {p.target!r}")
    return name


def executors(store: Store, revoker: Revoker) -> Mapping[str, Executor]:
    def approver(a: Authorisation) -> str:
        return a.people[-1]

    def revoke(p: Proposal, a: Authorisation) -> str:
        ca, serial = _certificate(p)
        reason = str(p.params.get("reason", "unspecified"))
        done = revoker.revoke(serial, reason, actor=approver(a), ca=ca, authorisation=a)
        return f"{ca}:{done.serial_hex} {done.status} ({reason})"

    def suspend(p: Proposal, a: Authorisation) -> str:
        ca, serial = _certificate(p)
        done = revoker.suspend(serial, actor=approver(a), ca=ca, authorisation=a)
        return f"{ca}:{done.serial_hex} {done.status}"

    def release(p: Proposal, a: Authorisation) -> str:
        ca, serial = _certificate(p)
        done = revoker.unsuspend(serial, actor=approver(a), ca=ca, authorisation=a)
        return f"{ca}:{done.serial_hex} {done.status}"

    def add_admin(p: Proposal, a: Authorisation) -> str:
        name = _name(p, "operator")
        insert_operator(
            store, name, "admin", str(p.params["password_hash"]), actor=approver(a), authorisation=a
        )
        return f"admin {name} added"

    def disable_admin(p: Proposal, a: Authorisation) -> str:
        name = _name(p, "operator")
        # The revoker carries the process's clock (psre.services): the sessions end at its now.
        set_enabled(store, name, False, actor=approver(a), clock=revoker.clock)
        return f"admin {name} disabled"

    def enable_client(p: Proposal, a: Authorisation) -> str:
        set_client_enabled(store, int(p.params["id"]), True, actor=approver(a))
        return f"client {_name(p, 'client')} enabled"

    return {
        "certificate.revoke": revoke,
        "certificate.suspend": suspend,
        "certificate.release": release,
        "operator.add_admin": add_admin,
        "operator.disable_admin": disable_admin,
        "client.enable": enable_client,
    }
