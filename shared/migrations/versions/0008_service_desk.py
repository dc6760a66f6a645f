"""Service desk: external participants of tasks, the service-desk settings of a create address,
internal comments, the built-in Support identity, and participant notifications.

Revision ID: 0008_service_desk
Revises: 0007_admin_accounts
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_service_desk"
down_revision = "0007_admin_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("desk", sa.String(length=320), nullable=False),
        sa.Column("thread_root", sa.String(length=250), nullable=False),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=False),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_participants_task_id_tasks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_participants")),
        sa.UniqueConstraint("task_id", "address", name=op.f("uq_task_participants_task_id")),
        sa.UniqueConstraint("unsubscribe_token", name=op.f("uq_task_participants_unsubscribe_token")),
    )
    with op.batch_alter_table("task_participants") as batch:
        batch.create_index("ix_task_participants_address_created", ["address", "created_at"], unique=False)
    with op.batch_alter_table("create_addresses") as batch:
        batch.add_column(sa.Column("service_desk", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("desk_acknowledge", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column("desk_template", sa.Text(), nullable=True))
        batch.add_column(sa.Column("desk_cc", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("app_users") as batch:
        batch.add_column(sa.Column("builtin", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("internal", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("participant_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_comments_participant_id_task_participants"), "task_participants",
                                 ["participant_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("sender_name", sa.String(length=200), server_default="", nullable=False))
        batch.add_column(sa.Column("participant_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_outbound_messages_participant_id_task_participants"), "task_participants",
                                 ["participant_id"], ["id"], ondelete="SET NULL")
        batch.create_index(batch.f("ix_outbound_messages_participant_id"), ["participant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_index(batch.f("ix_outbound_messages_participant_id"))
        batch.drop_constraint(op.f("fk_outbound_messages_participant_id_task_participants"), type_="foreignkey")
        batch.drop_column("participant_id")
        batch.drop_column("sender_name")
    with op.batch_alter_table("comments") as batch:
        batch.drop_constraint(op.f("fk_comments_participant_id_task_participants"), type_="foreignkey")
        batch.drop_column("participant_id")
        batch.drop_column("internal")
    with op.batch_alter_table("app_users") as batch:
        batch.drop_column("builtin")
    with op.batch_alter_table("create_addresses") as batch:
        for column in ("desk_cc", "desk_template", "desk_acknowledge", "service_desk"):
            batch.drop_column(column)
    op.drop_table("task_participants")
