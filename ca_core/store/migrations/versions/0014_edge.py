"""Slot: API input contract (issues 14, 16).

Revision ID: 0014_edge
Revises: 0013_verify
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0014_edge"
down_revision: str | None = "0013_verify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
