"""Dual-control proposals (table ``approvals``; ca_core.approvals holds the rules).

Each method is one transaction with the audit event it records, so a proposal's state and its
event commit together."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca_core.store import ReadOnlyStore, Store
from ca_core.store.db import rows_changed
from ca_core.store.models import Approval, Operator


@dataclass(frozen=True)
class Proposal:
    """A dual-control proposal, its parameters decoded (they are stored as JSON text)."""

    id: int
    action: str
    target: str
    params: Mapping[str, Any]
    proposed_by: str
    proposed_at: dt.datetime
    expires_at: dt.datetime
    state: str
    decided_by: str | None
    decided_at: dt.datetime | None
    outcome: str | None

    @classmethod
    def of(cls, row: Any) -> Proposal:
        """From an ``Approval`` row or a result row with the same columns."""
        return cls(
            row.id,
            row.action,
            row.target,
            json.loads(row.params),
            row.proposed_by,
            row.proposed_at,
            row.expires_at,
            row.state,
            row.decided_by,
            row.decided_at,
            row.outcome,
        )

    def expired(self, now: dt.datetime) -> bool:
        return self.state == "pending" and now >= self.expires_at


#: Raises (an ApprovalError) when the named operator is not an enabled admin; given the role.
AdminCheck = Callable[[str, str | None], None]


def _role(s: Session, name: str) -> str | None:
    return s.scalar(select(Operator.role).where(Operator.name == name, Operator.enabled.is_(True)))


class Approvals:
    def __init__(self, store: Store) -> None:
        self._store = store

    def _audit(
        self, s: Session, actor: str, action: str, obj: str, details: Mapping[str, Any]
    ) -> None:
        self._store.audit.append(actor, action, obj, details, session=s)

    def add(
        self,
        *,
        action: str,
        target: str,
        params: Mapping[str, Any],
        proposed_by: str,
        proposed_at: dt.datetime,
        expires_at: dt.datetime,
        require_admin: AdminCheck,
        audit_details: Callable[[int], Mapping[str, Any]],
    ) -> Proposal:
        """Record a pending proposal with its ``approval.propose`` event (``audit_details``
        of the new id)."""
        with self._store.session() as s:
            require_admin(proposed_by, _role(s, proposed_by))
            row = Approval(
                action=action,
                target=target,
                params=json.dumps(dict(params), sort_keys=True),
                proposed_by=proposed_by,
                proposed_at=proposed_at,
                expires_at=expires_at,
                state="pending",
            )
            s.add(row)
            s.flush()
            self._audit(s, proposed_by, "approval.propose", target, audit_details(row.id))
            return Proposal.of(row)

    def decide(
        self,
        proposal_id: int,
        *,
        actor: str,
        require_admin: AdminCheck,
        judge: Callable[[Proposal | None], str],
        now: dt.datetime,
    ) -> tuple[Proposal, str] | None:
        """Take a decision on a proposal in one transaction. ``judge`` (given the row, None
        for an unknown id; raising to refuse) says ``approved``, ``expired`` or ``rejected``.
        The move from pending is a conditional UPDATE, so of two admins deciding at once
        exactly one wins: the row as it was and the decision, or None for the one who lost."""
        with self._store.session() as s:
            require_admin(actor, _role(s, actor))
            found = s.get(Approval, proposal_id)
            row = None if found is None else Proposal.of(found)
            decision = judge(row)
            assert row is not None  # judge refuses an unknown id
            values: dict[str, Any] = {"state": decision}
            if decision != "expired":
                values.update(decided_by=actor, decided_at=now.replace(microsecond=0))
            won = rows_changed(
                s,
                update(Approval)
                .where(Approval.id == proposal_id, Approval.state == "pending")
                .values(**values)
                .execution_options(synchronize_session=False),
            )
            if won != 1:
                return None
            verb = {"approved": "approve", "rejected": "reject", "expired": "expired"}[decision]
            self._audit(
                s, actor, f"approval.{verb}", row.target, {"id": row.id, "action": row.action}
            )
        return row, decision

    def finish(
        self, proposal_id: int, *, state: str, outcome: str, actor: str, failure: bool
    ) -> Proposal:
        """Record how a carried-out proposal ended (``approval.failed`` audited on failure)."""
        with self._store.session() as s:
            s.execute(
                update(Approval)
                .where(Approval.id == proposal_id)
                .values(state=state, outcome=outcome[:500])
                .execution_options(synchronize_session=False)
            )
            row = s.get(Approval, proposal_id)
            assert row is not None
            s.refresh(row)
            if failure:
                self._audit(
                    s, actor, "approval.failed", row.target, {"id": row.id, "reason": outcome}
                )
            return Proposal.of(row)


class ApprovalReads:
    def __init__(self, store: ReadOnlyStore) -> None:
        self._store = store

    def newest(self, limit: int) -> list[Proposal]:
        """The newest proposals first."""
        stmt = select(*Approval.__table__.columns).order_by(Approval.id.desc()).limit(limit)
        with self._store.reading() as conn:
            return [Proposal.of(r) for r in conn.execute(stmt)]
