"""Index outbound rows by mail key: issued-address counts come from them.

Revision ID: 0003
Revises: 0002_console_search
Create Date: 2026-11-22
"""
from alembic import op

revision = "0003"
down_revision = "0002_console_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbound_messages_key_id", "outbound_messages", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_outbound_messages_key_id", table_name="outbound_messages")
