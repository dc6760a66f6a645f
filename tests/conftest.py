"""Shared fixtures: settings on a temporary instance, a migrated database, seeded people.

The database is SQLite in a temporary folder by default. Set
MAILGATE_TEST_DATABASE_URL to a PostgreSQL URL to run the same tests there;
each test then gets a fresh schema (dropped and re-created).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REPLY_DOMAIN = "reply.example.com"

# Test helpers that are not part of the installed package (the private Postfix): importable as
# `privatepostfix`. Set here, at import, because the folders' own conftest files import them.
SUPPORT = str(REPO / "tests" / "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)


def _interrupt(signum, frame):
    """SIGTERM/SIGHUP (a timeout, a closed terminal, a killed job) end the session as Ctrl-C does: with
    every fixture's teardown, so the servers the tests started are stopped. Once: a second signal during
    that teardown is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def pytest_configure(config):
    # The repository root must never be importable: its milter/ would shadow pymilter.
    root = str(REPO)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != root]
    # No test reads this machine's configuration file (/etc/mailgate/mailgate.env): an empty
    # MAILGATE_CONFIG means "no file", here and in every subprocess that inherits it.
    os.environ["MAILGATE_CONFIG"] = ""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    import leftovers

    leftovers.sweep()  # what earlier runs that were killed outright left running


def pytest_report_header(config):
    """Whether the external corpus's ~900 tests run: unset, most of them are not even collected."""
    corpus = os.environ.get("MAILGATE_CORPUS", "").strip()  # as tests/corpus.py reads it
    if not corpus:
        return "external corpus: not used (MAILGATE_CORPUS unset): its tests are skipped or not collected"
    return f"external corpus: {corpus}"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    """After every fixture's teardown: stop what a test left running, and say which, so it gets fixed."""
    import leftovers

    left = leftovers.stop_all()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if left and reporter is not None:
        reporter.write_line(f"stopped {len(left)} server(s) the tests left running: " + "; ".join(left),
                            yellow=True)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The MAILGATE_* environment of one test (also handed to subprocesses)."""
    url = os.environ.get("MAILGATE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'instance' / 'mailgate.db'}"
    return {
        "MAILGATE_INSTANCE": str(tmp_path / "instance"),
        "MAILGATE_DATABASE_URL": url,
        "MAILGATE_REPLY_DOMAIN": REPLY_DOMAIN,
        "MAILGATE_SECRET_KEY": "test-secret-key",
        "MAILGATE_MAILERS": '[{"key": "test", "type": "test"}]',
        # No DNS unless a test asks for it: tests/senderauth runs its own name server.
        "MAILGATE_SENDER_AUTH": "off",
        "MAILGATE_CONFIG": "",  # no configuration file: this machine's must not leak into a test
        # Tests send from one client faster than any person; tests/milter/test_rate_limits.py sets limits.
        "MAILGATE_RATE_LIMIT_PER_CLIENT": "off", "MAILGATE_RATE_LIMIT_PER_SENDER": "off",
    }


@pytest.fixture
def settings(env):
    from mailgate.shared.config import from_env

    return from_env(env)


def _reset_postgres(db) -> None:
    """An empty database at the head revision: its tables emptied when it is at head with every table (fast),
    else dropped and migrated again (the first test, or one that changed the schema)."""
    from sqlalchemy import text

    from mailgate.shared import schema
    from mailgate.shared.db import Base

    with db.engine.begin() as conn:
        tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        at = conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            if "alembic_version" in tables else None
        if at == schema.head_revision() and tables >= set(Base.metadata.tables):
            names = ", ".join(f'"{t}"' for t in sorted(tables - {"alembic_version"}))
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    schema.upgrade(db)


@pytest.fixture(scope="session")
def _sqlite_at_head(tmp_path_factory) -> Path:
    """A SQLite database migrated to head once per session; each test's `db` starts as a copy of it."""
    from mailgate.shared import schema
    from mailgate.shared.config import from_env
    from mailgate.shared.db import Database

    folder = tmp_path_factory.mktemp("schema-at-head")
    database = Database.from_settings(from_env({
        "MAILGATE_INSTANCE": str(folder), "MAILGATE_DATABASE_URL": f"sqlite:///{folder / 'mailgate.db'}",
        "MAILGATE_REPLY_DOMAIN": REPLY_DOMAIN, "MAILGATE_SECRET_KEY": "template", "MAILGATE_CONFIG": ""}))
    schema.upgrade(database)
    database.dispose()
    with contextlib.closing(sqlite3.connect(folder / "mailgate.db")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, the one that is copied
    return folder / "mailgate.db"


@pytest.fixture
def db(settings, request):
    """This test's database at the head revision, with a mail key and the built-in application of its own.

    Migrating for every test cost more than most tests: SQLite copies a database migrated once per
    session, PostgreSQL empties the tables (tests/test_schema.py runs the migrations themselves)."""
    import shutil

    from mailgate.shared import schema
    from mailgate.shared.db import Database, sqlite_path

    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        if path and not Path(path).exists():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(request.getfixturevalue("_sqlite_at_head"), path)
    database = Database.from_settings(settings)
    if not settings.is_sqlite:
        _reset_postgres(database)
    elif schema.current_revision(database) != schema.head_revision():
        schema.upgrade(database)  # a database the test made itself before asking for this one
    schema.seed(database)
    yield database
    database.dispose()


class Seed:
    """Named people and addresses most tests need."""

    def __init__(self, db, settings):
        from mailgate.shared import directory

        self.db, self.settings = db, settings
        with db.transaction() as s:
            self.alice = directory.add_user(s, "alice", ["alice@example.org"], "Alice", settings=settings, actor="test").id
            self.bob = directory.add_user(s, "bob", ["bob@example.org", "Bob.Work@Example.NET"], "Bob", settings=settings, actor="test").id
            self.carol = directory.add_user(s, "carol", ["carol@example.org"], "Carol", settings=settings, actor="test").id
            directory.add_create_address(s, settings, "tasks", f"bugs@{REPLY_DOMAIN}", actor="test")
        self.create_address = f"bugs@{REPLY_DOMAIN}"

    def reply_address(self, task_ref: str, user_id: int | None) -> str:
        from mailgate.shared import durability
        from mailgate.shared.addresses import issue_reply_address

        with durability.transaction(self.db) as conn:
            return issue_reply_address(conn, self.settings, task_ref, user_id)[0]


@pytest.fixture
def seed(db, settings) -> Seed:
    return Seed(db, settings)


@pytest.fixture
def cli(env, db):
    """`mailgate …` in this process, on the test's instance: cli("address", "list") -> the click Result."""
    from click.testing import CliRunner

    from mailgate.webui.cli import main

    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()

    def run(*args: str, input: bytes | str | None = None, ok: bool = True):
        result = runner.invoke(main, list(args), input=input, env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, (result.output, getattr(result, "stderr", ""))
        return result

    return run


def j(result) -> object:
    """A CLI result's --json output."""
    import json

    return json.loads(result.stdout)


def make_mail(*, sender: str = "alice@example.org", to: str = f"bugs@{REPLY_DOMAIN}", subject: str = "Hello",
              body: str = "Some text.", msgid: str | None = None, headers: dict[str, str] | None = None,
              attachments: list[tuple[str, str, bytes]] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = msgid or make_msgid(domain="example.org")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    for name, ctype, data in attachments or []:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def mail():
    return make_mail


@pytest.fixture
def receive(db, settings):
    """receive(raw, sender=None, to=(...), source='test') -> Outcome through the real pipeline."""
    from mailgate.shared.envelope import Envelope
    from mailgate.shared.pipeline import receive as _receive

    def run(raw: bytes, *, sender: str | None = None, to: tuple[str, ...] | list[str] = (), source: str = "test"):
        return _receive(db, settings, Envelope(source=source, sender=sender, recipients=list(to)), raw)

    return run


@pytest.fixture
def task_with_reply(seed, receive, mail):
    """T1 opened by alice, bob assigned: returns (task ref, bob's reply address)."""
    out = receive(mail(subject="Printer on fire", body="It burns.\n\n!assign bob\n"))
    assert out.status == "processed", out
    return out.object, seed.reply_address(out.object, seed.bob)
