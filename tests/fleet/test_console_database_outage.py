"""The console when PostgreSQL goes away: a 503 page that says so, and back without a restart."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .harness import PgCluster


def test_console_says_database_unavailable_then_recovers(tmp_path):
    from mailgate.shared import schema
    from mailgate.shared.config import from_env
    from mailgate.shared.db import Database
    from mailgate.webui import create_app
    from mailgate.webui.accounts import create_admin

    # Not under tmp_path: pytest's base folder is closed to the postgres user.
    pg = PgCluster(Path(tempfile.mkdtemp(prefix="mailgate-console-pg-"))).start()
    try:
        settings = from_env({"MAILGATE_INSTANCE": str(tmp_path / "instance"), "MAILGATE_DATABASE_URL": pg.url,
                             "MAILGATE_REPLY_DOMAIN": "reply.example.com", "MAILGATE_SECRET_KEY": "k"})
        db = Database.from_settings(settings)
        schema.init(db)
        with db.transaction() as s:
            create_admin(s, "admin", "a long enough password", actor="test")
        db.dispose()

        app = create_app({"MAILGATE_SETTINGS": settings, "TESTING": True, "MAILGATE_LOGIN_DELAY": 0})
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        assert client.post("/login", data={"username": "admin", "password": "a long enough password",
                                           "csrf_token": token}).status_code == 302
        assert client.get("/received/").status_code == 200

        pg.stop()
        down = client.get("/received/")
        assert down.status_code == 503
        assert "database is unavailable" in down.get_data(as_text=True)

        pg.start()
        assert client.get("/received/").status_code == 200  # same app, same pool: no restart
    finally:
        pg.destroy()
