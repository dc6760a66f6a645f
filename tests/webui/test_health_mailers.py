"""The Health page says when a mailer's service refused our credentials, and never shows the secret."""

from __future__ import annotations

import json

import pytest

from mailgate.shared.mailer_config import fingerprint
from mailgate.shared.outbound.worker import Worker

from ..support.api_standins import Postmark

TOKEN = "pm-server-token"


@pytest.fixture
def postmark():
    s = Postmark(TOKEN).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def env(env, postmark):
    entry = {"key": "pm", "type": "postmark", "options": {"access-token": TOKEN, "endpoint": postmark.url,
                                                           "timeout": 5}}
    return {**env, "MAILGATE_MAILERS": json.dumps([entry])}


def test_refused_credentials_are_on_the_health_page(browser, db, settings, postmark, task_with_reply):
    postmark.mode = "unauthorized"
    Worker(db, settings).run_once()
    html = browser.get("/health/").get_data(as_text=True)
    row = html[html.index("mailer pm (postmark)"):]
    row = row[:row.index("</tr>")]
    assert "failed" in row and "skips it until" in row and "HTTP 401" in row
    assert fingerprint(TOKEN) in row and TOKEN not in html
