"""Slot (issues 17 and 18): 0021_status_changes.

Revision ID: 0021_status_changes
Revises: 0020_policy
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0021_status_changes"
down_revision: str | None = "0020_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
