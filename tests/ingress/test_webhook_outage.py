"""A webhook while PostgreSQL is down: 503 so the provider retries, nothing half-stored, and back without a restart."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from ..conftest import REPLY_DOMAIN, Seed, make_mail
from ..fleet.harness import PgCluster
from .providers import POSTMARK_IP, mailgun_form, postmark_payload
from .test_webhooks import MAILERS, PM_AUTH, rows

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_database_outage_answers_503_then_the_retry_is_stored(tmp_path):
    from mailgate.ingress.web.app import create_app
    from mailgate.shared import schema
    from mailgate.shared.config import from_env
    from mailgate.shared.db import Database

    pg = PgCluster(Path(tempfile.mkdtemp(prefix="mailgate-ingress-pg-"))).start()
    try:
        settings = from_env({"MAILGATE_INSTANCE": str(tmp_path / "instance"), "MAILGATE_DATABASE_URL": pg.url,
                             "MAILGATE_REPLY_DOMAIN": REPLY_DOMAIN, "MAILGATE_SECRET_KEY": "k",
                             "MAILGATE_MAILERS": json.dumps(MAILERS)})
        db = Database.from_settings(settings)
        schema.init(db)
        Seed(db, settings)
        client = create_app(settings, db).test_client()
        payload = postmark_payload(make_mail(subject="During the outage"), f"bugs@{REPLY_DOMAIN}")
        signed = mailgun_form(make_mail(subject="Mailgun during the outage"), f"bugs@{REPLY_DOMAIN}", "sign-key")

        pg.stop()
        down = client.post("/mail/postmark/", json=payload, auth=PM_AUTH, environ_base={"REMOTE_ADDR": POSTMARK_IP})
        assert down.status_code == 503 and down.headers["Retry-After"] == "60"
        # Mailgun's replay check reads the database too: unavailable is 503 as well, never a refusal.
        assert client.post("/mail/mailgun/", data=signed).status_code == 503

        pg.start()
        assert rows(db) == []  # nothing was stored, so nothing was answered 2xx
        again = client.post("/mail/postmark/", json=payload, auth=PM_AUTH, environ_base={"REMOTE_ADDR": POSTMARK_IP})
        assert again.status_code == 200
        assert client.post("/mail/mailgun/", data=signed).status_code == 200  # the same token: not a replay
        assert [(r.subject, r.status) for r in rows(db)] == [("During the outage", "processed"),
                                                              ("Mailgun during the outage", "processed")]
        db.dispose()
    finally:
        pg.destroy()
