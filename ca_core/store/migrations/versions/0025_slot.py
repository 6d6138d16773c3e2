"""Slot (issues 17 and 18): 0025_slot.

Revision ID: 0025_slot
Revises: 0024_slot
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0025_slot"
down_revision: str | None = "0024_slot"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
