"""Slot (issues 17 and 18): 0022_refresher.

Revision ID: 0022_refresher
Revises: 0021_status_changes
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0022_refresher"
down_revision: str | None = "0021_status_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
