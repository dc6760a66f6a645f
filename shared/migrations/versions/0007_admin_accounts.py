"""Admin accounts: disable, session generation (logout ends copied cookies), failed-login lockout.

Revision ID: 0007_admin_accounts
Revises: 0006_ingress
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_admin_accounts"
down_revision = "0006_ingress"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_users") as batch:
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("session_generation", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("last_failed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("admin_users") as batch:
        for column in ("locked_until", "last_failed_at", "failed_logins", "session_generation", "disabled",
                       "password_changed_at"):
            batch.drop_column(column)
