"""console search and dashboard: FTS5 over received messages (SQLite), (created_at, status) index

The dashboard counts received messages per hour and status over 7 days; a
covering (created_at, status) index answers that from the index alone, and
it replaces the plain created_at index (which it serves too).

Searching a million rows with LIKE '%x%' reads every row. On SQLite an
external-content FTS5 table, kept in step by triggers, answers word and
word-prefix searches over sender, recipients, subject and Message-ID from an
index. PostgreSQL keeps using ILIKE (see bench/RESULTS.md, "Console speed").

Revision ID: 0002_console_search
Revises: 0001
Create Date: 2026-11-22 04:50:00
"""
from alembic import op

revision = '0002_console_search'
down_revision = '0001'
branch_labels = None
depends_on = None

COLUMNS = "subject, from_addr, mail_from, recipients_text, message_id"


def _values(prefix: str) -> str:
    return ", ".join(f"{prefix}.{c.strip()}" for c in COLUMNS.split(","))


def upgrade() -> None:
    op.drop_index("ix_received_created_at", table_name="received_messages")
    op.create_index("ix_received_created_status", "received_messages", ["created_at", "status"])
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE VIRTUAL TABLE received_search USING fts5({COLUMNS}, content='received_messages', "
        "content_rowid='id', tokenize=\"unicode61 remove_diacritics 2 tokenchars '_'\")"
    )
    op.execute(
        "CREATE TRIGGER received_search_ai AFTER INSERT ON received_messages BEGIN "
        f"INSERT INTO received_search(rowid, {COLUMNS}) VALUES (new.id, {_values('new')}); END"
    )
    op.execute(
        "CREATE TRIGGER received_search_ad AFTER DELETE ON received_messages BEGIN "
        f"INSERT INTO received_search(received_search, rowid, {COLUMNS}) "
        f"VALUES ('delete', old.id, {_values('old')}); END"
    )
    op.execute(
        f"CREATE TRIGGER received_search_au AFTER UPDATE OF {COLUMNS} ON received_messages BEGIN "
        f"INSERT INTO received_search(received_search, rowid, {COLUMNS}) "
        f"VALUES ('delete', old.id, {_values('old')}); "
        f"INSERT INTO received_search(rowid, {COLUMNS}) VALUES (new.id, {_values('new')}); END"
    )
    op.execute("INSERT INTO received_search(received_search) VALUES ('rebuild')")


def downgrade() -> None:
    op.drop_index("ix_received_created_status", table_name="received_messages")
    op.create_index("ix_received_created_at", "received_messages", ["created_at"])
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("received_search_ai", "received_search_ad", "received_search_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS received_search")
