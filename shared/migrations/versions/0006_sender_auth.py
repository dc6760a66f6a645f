"""Sender authentication: the result on each received message, a policy per create address,
and the serial behind each user's personal create address.

Revision ID: 0005_sender_auth
Revises: 0005_rcpt_refusals
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_sender_auth"
down_revision = "0005_rcpt_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("received_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auth", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("auth_verdict", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_received_auth_verdict_id", ["auth_verdict", "id"], unique=False)
    with op.batch_alter_table("create_addresses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_auth", sa.String(length=16), nullable=True))
    with op.batch_alter_table("app_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("create_address_serial", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("app_users", schema=None) as batch_op:
        batch_op.drop_column("create_address_serial")
    with op.batch_alter_table("create_addresses", schema=None) as batch_op:
        batch_op.drop_column("sender_auth")
    with op.batch_alter_table("received_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_received_auth_verdict_id")
        batch_op.drop_column("auth_verdict")
        batch_op.drop_column("auth")
