"""Slot: backup high-water marks, expiry notices, reports (issue 20).

Revision ID: 0016_lifecycle
Revises: 0015_relying
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0016_lifecycle"
down_revision: str | None = "0015_relying"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
