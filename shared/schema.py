"""Create or upgrade the database (Alembic), and say whether it is at this code's revision.

Every command, the milter and the console check the revision at start
(`current_revision`, `mismatch`). That check reads `alembic_version` with one
SELECT and knows this code's revisions from the migration files' own
`revision =` / `down_revision =` lines, because importing Alembic costs more
CPU than the pipe ingress spends on a message; Alembic is imported only to
upgrade (`mailgate init`).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from sqlalchemy import inspect, text

from mailgate.shared.db import READ_ONLY, Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSIONS = MIGRATIONS / "versions"

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


def alembic_config():
    """Alembic's configuration for our migrations (imports Alembic: for upgrades and tests only)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@lru_cache(maxsize=1)
def revisions() -> dict[str, tuple[str, ...]]:
    """Each migration of this code: its revision and the revisions it follows, read from the files as text."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        names = _QUOTED.findall(found.get("revision", ""))
        if len(names) != 1:
            continue  # not a migration (__init__.py)
        graph[names[0]] = tuple(_QUOTED.findall(found.get("down_revision", "")))
    return graph


def head_revision() -> str:
    """The revision no other migration follows: what `mailgate init` upgrades to."""
    graph = revisions()
    followed = {parent for parents in graph.values() for parent in parents}
    heads = sorted(set(graph) - followed)
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {VERSIONS} have {len(heads)} heads ({', '.join(heads)}), not one")
    return heads[0]


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
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    cfg = alembic_config()
    with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(conn, on=False)
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
                found = MigrationContext.configure(conn).get_current_revision()
                if found is not None and not _known(found):
                    raise SchemaTooNew(mismatch(found))
                cfg.attributes["connection"] = conn
                if found == head_revision():
                    return found
                dangling = _dangling_references(conn) if sqlite else None
                command.upgrade(cfg, "head")
                if sqlite:
                    _no_new_dangling_references(conn, dangling)
        finally:
            if sqlite:
                _sqlite_foreign_keys(conn, on=True)
    return found


def _sqlite_foreign_keys(conn, *, on: bool) -> None:
    """SQLite alters a table by copying it, dropping the old one and renaming the copy; with foreign keys
    enforced, dropping a table other rows refer to fails (or cascades). The pragma works only outside a
    transaction, so it is set on the connection before the upgrade begins, and back after."""
    conn.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _dangling_references(conn) -> Counter:
    """Rows that refer to a missing row, counted per table and referenced table."""
    rows = conn.exec_driver_sql("PRAGMA foreign_key_check")
    return Counter((table, parent) for table, _rowid, parent, _fk in rows)


def _no_new_dangling_references(conn, before: Counter) -> None:
    """What enforcement would have caught while it was off: a row the upgrade left pointing nowhere undoes it
    (rows that already pointed nowhere are the operator's, and stay as they were)."""
    grown = sorted(f"{table} -> {parent}" for (table, parent), n in _dangling_references(conn).items()
                   if n > before[(table, parent)])
    if grown:
        raise RuntimeError(f"the schema upgrade would leave rows that refer to missing rows: {', '.join(grown)}")


def current_revision(db: Database) -> str | None:
    """The database's revision (None: not initialised), read-only: every command asks this first, and a
    look at the log must not queue for the writer."""
    with db.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(found) > 1:
        raise RuntimeError(f"the database is at several revisions at once ({', '.join(sorted(found))})")
    return found[0] if found else None


def _known(revision: str) -> bool:
    """Is `revision` one of this Mailgate's migrations (not one a newer Mailgate wrote)?"""
    return revision in revisions()


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
    return {"schema_from": before, "schema": head_revision(), **seed(db)}


def seed(db: Database) -> dict:
    """What a fresh install needs beside the schema: a mail key and the built-in application (idempotent)."""
    from mailgate.shared import keys, tracker

    with db.transaction() as s:
        key = keys.ensure_key(s)
        app = tracker.builtin_app(s)
        return {"mail_key": keys.fingerprint(key), "application": app.name}
