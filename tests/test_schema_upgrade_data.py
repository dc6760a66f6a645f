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


def _orphan_comment(url: str) -> None:
    """A comment whose author is gone, as a database written with enforcement off might hold."""
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        conn.connection.driver_connection.execute("UPDATE comments SET author_id = 99")
    engine.dispose()


def test_rows_that_already_pointed_nowhere_do_not_block_the_upgrade(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'mailgate.db'}"
    _at(url, BEFORE_SERVICE_DESK)
    _fill(url)
    _orphan_comment(url)
    db = Database(url)
    try:
        schema.upgrade(db)
        assert schema.current_revision(db) == schema.head_revision()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT author_id FROM comments")).scalar() == 99  # left as it was
    finally:
        db.dispose()


def test_an_upgrade_that_leaves_new_dangling_rows_is_undone(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'mailgate.db'}"
    _at(url, BEFORE_SERVICE_DESK)
    _fill(url)
    real_upgrade = command.upgrade

    def losing_a_table(cfg, revision):  # a migration that would drop the users the tasks refer to
        real_upgrade(cfg, revision)
        cfg.attributes["connection"].exec_driver_sql("DELETE FROM app_users")

    monkeypatch.setattr(command, "upgrade", losing_a_table)
    db = Database(url)
    try:
        with pytest.raises(RuntimeError, match="tasks -> app_users"):
            schema.upgrade(db)
        assert schema.current_revision(db) == BEFORE_SERVICE_DESK
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM app_users")).scalar() == 1
    finally:
        db.dispose()
