"""Slot: path validation at the time that counts (issue 15).

Revision ID: 0013_verify
Revises: 0012_faults
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0013_verify"
down_revision: str | None = "0012_faults"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
