"""Dual control: one admin proposes an operation, a *different* admin approves it in time.

Modelled on EJBCA's approval profiles: the operation is recorded with everything needed to
carry it out (``action``, ``target``, ``params``), waits as ``pending`` until another enabled
admin approves it (it then runs at once, under an :class:`~ca_core.ca_level.Authorisation`
naming both people), is rejected, or expires after the configured time (``web.approval_minutes``).
Proposing, approving, rejecting and the operation itself are each an audit event naming the
person. What each action does is supplied by the caller (``executors``), so this module knows
no console, revoker or operator code.

Which operations need it (the table is in the README and the CPS): the status of CA-level
certificates, adding an admin, disabling an admin, re-enabling a client application.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ca_core.ca_level import Authorisation
from ca_core.clock import utcnow
from ca_core.errors import CaError
from ca_core.store import Store
from ca_core.store.approvals import ApprovalReads, Approvals
from ca_core.store.approvals import Proposal as Proposal  # the value callers name

#: Operations that need a second admin, with what the console shows for them.
ACTIONS: dict[str, str] = {
    "certificate.revoke": "revoke a CA-level certificate",
    "certificate.suspend": "suspend a CA-level certificate",
    "certificate.release": "release a CA-level certificate from hold",
    "operator.add_admin": "add an admin",
    "operator.disable_admin": "disable an admin",
    "client.enable": "re-enable a client application",
}

#: Carries out an approved proposal; returns a one-line account of what it did.
Executor = Callable[["Proposal", Authorisation], str]


class ApprovalError(CaError):
    code = "approval_invalid"


class SameOperatorError(ApprovalError):
    code = "approval_same_operator"


class ProposalExpired(ApprovalError):
    code = "approval_expired"


class NotPending(ApprovalError):
    code = "approval_not_pending"


def describe(p: Proposal) -> str:
    """What the console shows for a proposal's action."""
    return ACTIONS.get(p.action, p.action)


def _require_admin(name: str, role: str | None) -> None:
    if role != "admin":
        raise ApprovalError(f"{name} is not an enabled admin: only admins propose and approve")


def propose(
    store: Store,
    action: str,
    target: str,
    params: Mapping[str, Any],
    *,
    actor: str,
    ttl: dt.timedelta,
    now: dt.datetime | None = None,
) -> Proposal:
    """Record a proposal by admin ``actor``; nothing happens until another admin approves."""
    if action not in ACTIONS:
        raise ApprovalError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if ttl <= dt.timedelta(0):
        raise ApprovalError("the approval time limit must be positive")
    now = (now or utcnow()).replace(microsecond=0)
    row = Approvals(store).add(
        action=action,
        target=target,
        params=params,
        proposed_by=actor,
        proposed_at=now,
        expires_at=now + ttl,
        require_admin=_require_admin,
        audit_details=lambda new_id: {
            "id": new_id,
            "action": action,
            "expires_at": _z(now + ttl),
            "params": _public(params),
        },
    )
    return row


def _pending(proposal_id: int, row: Proposal | None) -> Proposal:
    if row is None:
        raise ApprovalError(f"no proposal {proposal_id}")
    p = row
    if p.state != "pending":
        raise NotPending(f"proposal {proposal_id} is already {p.state}")
    return p


def approve(
    store: Store,
    proposal_id: int,
    *,
    actor: str,
    executors: Mapping[str, Executor],
    now: dt.datetime | None = None,
) -> Proposal:
    """Approve and carry out proposal ``proposal_id`` as admin ``actor`` (not its proposer).

    The pending → approved step is one conditional UPDATE, so of two admins approving at the
    same moment exactly one carries the operation out."""
    now = now or utcnow()

    def judge(row: Proposal | None) -> str:
        p = _pending(proposal_id, row)
        if p.proposed_by == actor:
            raise SameOperatorError(
                f"proposal {proposal_id} was made by {actor}: a different admin must approve it"
            )
        return "expired" if p.expired(now) else "approved"

    db = Approvals(store)
    decided = db.decide(
        proposal_id, actor=actor, require_admin=_require_admin, judge=judge, now=now
    )
    if decided is None:
        raise NotPending(f"proposal {proposal_id} was decided meanwhile")
    p = decided[0]
    if decided[1] == "expired":
        raise ProposalExpired(
            f"proposal {proposal_id} expired at {_z(p.expires_at)}; propose it again"
        )
    run = executors.get(p.action)
    authorisation = Authorisation("dual-control", f"approval:{p.id}", (p.proposed_by, actor))
    try:
        if run is None:
            raise ApprovalError(f"nothing carries out {p.action!r} here")
        outcome, state = run(p, authorisation), "approved"
    except CaError as ex:
        outcome, state = f"failed: {ex}", "failed"
    done = db.finish(p.id, state=state, outcome=outcome, actor=actor, failure=state == "failed")
    if state == "failed":
        raise ApprovalError(f"proposal {p.id} approved, but {outcome}")
    return done


def reject(
    store: Store, proposal_id: int, *, actor: str, now: dt.datetime | None = None
) -> Proposal:
    """Reject (or, by its proposer, withdraw) a pending proposal."""
    now = now or utcnow()
    decided = Approvals(store).decide(
        proposal_id,
        actor=actor,
        require_admin=_require_admin,
        judge=lambda row: (_pending(proposal_id, row), "rejected")[1],
        now=now,
    )
    if decided is None:
        raise NotPending(f"proposal {proposal_id} was decided meanwhile")
    return replace(
        decided[0],
        state="rejected",
        decided_by=actor,
        decided_at=now.replace(microsecond=0),
    )


def list_proposals(store: Store, *, limit: int = 100) -> list[Proposal]:
    """The newest proposals first."""
    return ApprovalReads(store).newest(limit)


def _public(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters fit for the audit log (a password hash stays out of it)."""
    return {k: v for k, v in params.items() if "hash" not in k}


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
