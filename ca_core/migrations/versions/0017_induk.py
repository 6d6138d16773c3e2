"""Slot: PSrE Induk, external CAs and the trusted list (issue 21).

Revision ID: 0017_induk
Revises: 0016_lifecycle
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0017_induk"
down_revision: str | None = "0016_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
