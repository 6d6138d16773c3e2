"""Slot: CA-level status changes under dual control, operator safeguards (issue 15).

Revision ID: 0010_authority
Revises: 0009_signing
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010_authority"
down_revision: str | None = "0009_signing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
