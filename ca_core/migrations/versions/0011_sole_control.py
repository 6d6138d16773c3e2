"""Slot: signer activation and per-app lockout (issue 15).

Revision ID: 0011_sole_control
Revises: 0010_authority
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0011_sole_control"
down_revision: str | None = "0010_authority"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
