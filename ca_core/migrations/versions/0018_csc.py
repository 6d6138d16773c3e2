"""Slot: CSC remote signing (issue 19).

Revision ID: 0018_csc
Revises: 0017_induk
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0018_csc"
down_revision: str | None = "0017_induk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
