"""Signing API: documents, activations, TSA serials, outbox.

Revision ID: 0009_signing
Revises: 0008_ocsp
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_signing"
down_revision: str | None = "0008_ocsp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _upgrade_api()


def downgrade() -> None:
    _downgrade_api()


# --- HTTP API (client apps, documents, activation codes, outbox, seal activations) -----------


def _upgrade_api() -> None:
    with op.batch_alter_table("client_applications") as batch:
        batch.add_column(sa.Column("default_level", sa.String(8), nullable=True))
        batch.add_column(sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True))
    op.create_table(
        "signed_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signed_documents"),
        sa.UniqueConstraint("document_id", name="uq_signed_documents_document_id"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_applications.id"],
            name="fk_signed_documents_client_id_client_applications",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_signed_documents_subscriber_id_subscribers",
        ),
    )
    op.create_index("ix_signed_documents_expires_at", "signed_documents", ["expires_at"])
    op.create_table(
        "seal_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_seal_activations"),
        sa.UniqueConstraint("token_sha256", name="uq_seal_activations_token_sha256"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_seal_activations_subscriber_id_subscribers",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_applications.id"],
            name="fk_seal_activations_client_id_client_applications",
        ),
    )
    op.create_index(
        "ix_seal_activations_subscriber_id_client_id",
        "seal_activations",
        ["subscriber_id", "client_id"],
    )
    op.create_table(
        "activation_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("seal_activation_id", sa.Integer(), nullable=True),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("code_hmac", sa.String(64), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("document_sha256", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_activation_codes"),
        sa.CheckConstraint("purpose IN ('sign', 'seal')", name="ck_activation_codes_purpose"),
        sa.CheckConstraint("documents >= 1", name="ck_activation_codes_documents"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_activation_codes_subscriber_id_subscribers",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_applications.id"],
            name="fk_activation_codes_client_id_client_applications",
        ),
        sa.ForeignKeyConstraint(
            ["seal_activation_id"],
            ["seal_activations.id"],
            name="fk_activation_codes_seal_activation_id_seal_activations",
        ),
    )
    op.create_index(
        "ix_activation_codes_subscriber_id_purpose",
        "activation_codes",
        ["subscriber_id", "purpose"],
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_messages"),
    )
    op.create_index("ix_outbox_messages_recipient", "outbox_messages", ["recipient"])
    op.create_table(
        "client_request_windows",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "window", name="pk_client_request_windows"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_applications.id"],
            name="fk_client_request_windows_client_id_client_applications",
        ),
    )


def _downgrade_api() -> None:
    op.drop_table("client_request_windows")
    op.drop_table("outbox_messages")
    op.drop_table("activation_codes")
    op.drop_table("seal_activations")
    op.drop_table("signed_documents")
    with op.batch_alter_table("client_applications") as batch:
        batch.drop_column("rate_limit_per_minute")
        batch.drop_column("default_level")
