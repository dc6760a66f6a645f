"""Tables of the ways in beside the milter: refused webhook requests per hour, seen webhook tokens.

Revision ID: 0006_ingress
Revises: 0005_sender_auth
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_ingress"
down_revision = "0005_sender_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingress_refusals",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "source", "reason", name=op.f("pk_ingress_refusals")),
    )
    op.create_table(
        "webhook_tokens",
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_webhook_tokens")),
    )
    op.create_index(op.f("ix_webhook_tokens_seen_at"), "webhook_tokens", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_tokens_seen_at"), table_name="webhook_tokens")
    op.drop_table("webhook_tokens")
    op.drop_table("ingress_refusals")
