"""Slot: fault recovery, orphaned keys, kept documents (issue 16).

Revision ID: 0012_faults
Revises: 0011_sole_control
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0012_faults"
down_revision: str | None = "0011_sole_control"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
