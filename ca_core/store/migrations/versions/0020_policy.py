"""Slot: one status feed, policy as data (issue 17).

Revision ID: 0020_policy
Revises: 0019_scale
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0020_policy"
down_revision: str | None = "0019_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
