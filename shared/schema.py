"""Create or upgrade the database (Alembic), and seed what a fresh install needs."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from mailgate.shared import keys, tracker
from mailgate.shared.db import READ_ONLY, Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


class SchemaTooNew(Exception):
    """The database was upgraded by a newer Mailgate (another host): this one cannot run on it, nor init it."""


_MIGRATE_LOCK = 0x6D6967726174  # "migrat": pg_advisory_xact_lock key of schema upgrades


def upgrade(db: Database) -> str | None:
    """Upgrade to the head revision; returns the revision found (None: a new database).

    One host at a time: several hosts provisioned at once each run `mailgate
    init`, and two PostgreSQL upgrades side by side collide in the catalogue
    (duplicate types, an index one dropped and the other drops again). The
    second waits on an advisory lock for the first's commit, then finds the
    schema at head and does nothing. (SQLite writers queue on BEGIN IMMEDIATE.)
    """
    cfg = alembic_config()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
        found = MigrationContext.configure(conn).get_current_revision()
        if found is not None and not _known(found):
            raise SchemaTooNew(mismatch(found))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return found


def current_revision(db: Database) -> str | None:
    """Read-only: every command asks this first, and a look at the log must not queue for the writer."""
    with db.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _known(revision: str) -> bool:
    """Is `revision` one of this Mailgate's migrations (not one a newer Mailgate wrote)?"""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except Exception:  # noqa: BLE001 -- alembic raises for a revision it does not have
        return False


def mismatch(current: str | None) -> str | None:
    """What is wrong with a database at revision `current` for this code, with what to do, as
    "what is wrong; what to do" (`mailgate check` shows the two apart); None: nothing.

    A database can also be newer than the code: in a fleet, another host was
    upgraded and ran init. `mailgate init` cannot help then (Alembic does not
    know the revision); this host's Mailgate must be upgraded.
    """
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return "the database is not initialised; run `mailgate init`"
    if _known(current):
        return f"the database schema {current} is older than this Mailgate's {head}; run `mailgate init` to upgrade it"
    return (f"the database schema {current} is newer than this Mailgate knows ({head}): another host runs a "
            f"newer Mailgate; upgrade Mailgate on this host (mailgate init cannot)")


def init(db: Database) -> dict:
    """Upgrade the schema, make sure a mail key and the built-in application exist."""
    before = upgrade(db)
    with db.transaction() as s:
        key = keys.ensure_key(s)
        app = tracker.builtin_app(s)
        result = {"schema_from": before, "schema": head_revision(), "mail_key": keys.fingerprint(key),
                  "application": app.name}
    return result
