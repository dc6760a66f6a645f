"""Drop the index on received_messages.dedupe_key: no query reads it.

Duplicates are found through message_claims, whose primary key is the dedupe
key (the first message acted on holds the claim). The index on the received
row was left from before the claims table; every stored message paid for it
(a B-tree insert with a key of up to 260 characters, and 1.4 of the ~39 WAL
pages a message writes: bench/RESULTS.md, "receive() in one process").

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_received_messages_dedupe_key", table_name="received_messages")


def downgrade() -> None:
    op.create_index("ix_received_messages_dedupe_key", "received_messages", ["dedupe_key"])
