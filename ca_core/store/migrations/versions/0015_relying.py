"""Slot: relying-party conformance (issue 14).

Revision ID: 0015_relying
Revises: 0014_edge
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0015_relying"
down_revision: str | None = "0014_edge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
