"""Upgrading a database that holds data: SQLite copies a table to alter it, and the rows that refer to it
(a user's addresses, tasks and comments) must survive, not block the upgrade or be cascaded away."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from mailgate.shared import schema
from mailgate.shared.db import Database, make_engine

BEFORE_SERVICE_DESK = "0007_admin_accounts"  # 0008 alters app_users, which most tables refer to
NOW = "2026-12-01 10:00:00"


def _at(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        cfg = schema.alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def _fill(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            run = conn.exec_driver_sql
            run(f"INSERT INTO app_users (id, username, name, enabled, created_at) VALUES (1, 'alice', 'Alice', 1, '{NOW}')")
            run("INSERT INTO user_emails (id, user_id, address) VALUES (1, 1, 'alice@example.org')")
            run("INSERT INTO tasks (id, title, description, status, priority, author_id, thread_id, created_at,"
                f" updated_at) VALUES (1, 'Printer', 'It burns.', 'open', 'normal', 1, 't1@x', '{NOW}', '{NOW}')")
            run(f"INSERT INTO comments (id, task_id, author_id, text, created_at) VALUES (1, 1, 1, 'Still.', '{NOW}')")
    finally:
        engine.dispose()


def test_upgrade_keeps_rows_that_refer_to_altered_tables(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'mailgate.db'}"
    _at(url, BEFORE_SERVICE_DESK)
    _fill(url)
    db = Database(url)
    try:
        assert schema.upgrade(db) == BEFORE_SERVICE_DESK
        with db.engine.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                      for t in ("app_users", "user_emails", "tasks", "comments")}
            assert counts == {"app_users": 1, "user_emails": 1, "tasks": 1, "comments": 1}
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # enforced again afterwards
        assert schema.current_revision(db) == schema.head_revision()
    finally:
        db.dispose()


def test_an_upgrade_that_would_leave_dangling_rows_is_undone(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'mailgate.db'}"
    _at(url, BEFORE_SERVICE_DESK)
    _fill(url)
    engine = make_engine(url)
    with engine.connect() as conn:  # a row pointing at no user, as enforcement being off might let through
        conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        conn.connection.driver_connection.execute("UPDATE comments SET author_id = 99")
    engine.dispose()
    db = Database(url)
    try:
        with pytest.raises(RuntimeError, match="comments"):
            schema.upgrade(db)
        assert schema.current_revision(db) == BEFORE_SERVICE_DESK
    finally:
        db.dispose()
