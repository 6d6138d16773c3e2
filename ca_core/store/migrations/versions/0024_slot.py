"""Slot (issues 17 and 18): 0024_slot.

Revision ID: 0024_slot
Revises: 0023_slot
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0024_slot"
down_revision: str | None = "0023_slot"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
