"""Notification links go to the application's own pages (MAILGATE_BASE_URL), never the admin-only console."""

from __future__ import annotations

from dataclasses import replace

from mailgate.shared.config import DEFAULT_CONSOLE_URL, from_env
from mailgate.shared import durability
from mailgate.shared.notify import queue_task_event
from mailgate.shared.rows import task_by_id, user_by_id


def _body(db, settings, ref, seed) -> str:
    with durability.transaction(db) as conn:
        (row, *_) = queue_task_event(conn, settings, task=task_by_id(conn, int(ref[1:])),
                                     actor=user_by_id(conn, seed.carol), events=["closed"])
        return row.body_text


def test_no_link_to_the_console_by_default(db, settings, seed, task_with_reply):
    ref, _ = task_with_reply
    assert settings.base_url == ""
    body = _body(db, settings, ref, seed)
    assert "http" not in body and "8080" not in body
    assert f"{ref} ·" in body  # the summary stays


def test_the_link_names_the_applications_page(db, settings, seed, task_with_reply):
    ref, _ = task_with_reply
    body = _body(db, replace(settings, base_url="https://tracker.example.com"), ref, seed)
    assert f"https://tracker.example.com/tasks/{ref}" in body


def test_base_and_console_urls_are_separate_settings(tmp_path):
    s = from_env({"MAILGATE_INSTANCE": str(tmp_path), "MAILGATE_BASE_URL": "https://tracker.example.com/",
                  "MAILGATE_CONSOLE_URL": "https://mail-admin.example.com"})
    assert (s.base_url, s.console_url) == ("https://tracker.example.com", "https://mail-admin.example.com")
    assert from_env({"MAILGATE_INSTANCE": str(tmp_path)}).console_url == DEFAULT_CONSOLE_URL
