"""Slot (issues 17 and 18): 0023_slot.

Revision ID: 0023_slot
Revises: 0022_refresher
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0023_slot"
down_revision: str | None = "0022_refresher"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
