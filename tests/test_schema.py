"""The Alembic migrations build exactly the schema the models describe (on SQLite and PostgreSQL)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mailgate.shared import schema
from mailgate.shared.db import Base

# Search index tables the console maintains with triggers (SQLite FTS5); not ORM models.
NOT_MODELS = ("received_search",)


def test_migrations_match_the_models(db):
    assert schema.current_revision(db) == schema.head_revision()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    drift = [d for d in diff if not any(name in str(d) for name in NOT_MODELS)]
    assert drift == []


def test_init_is_idempotent(db):
    first = schema.init(db)
    again = schema.init(db)
    assert first["mail_key"] == again["mail_key"] and again["schema_from"] == again["schema"]


def test_each_schema_mismatch_says_what_to_do():
    head = schema.head_revision()
    assert schema.mismatch(head) is None
    assert "run `mailgate init`" in schema.mismatch(None)
    assert "older" in schema.mismatch("0001") and "run `mailgate init` to upgrade" in schema.mismatch("0001")
    newer = schema.mismatch("9999")  # a host upgraded before this one ran init
    assert "newer than this Mailgate" in newer and "upgrade Mailgate on this host" in newer


def test_a_database_newer_than_the_code_is_refused_with_that_advice(env, db):
    """Every entry point (CLI, milter start-up, check) gives the same sentence."""
    from click.testing import CliRunner
    from sqlalchemy import text

    from mailgate.shared import health
    from mailgate.webui.cli import main

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        out = CliRunner().invoke(main, ["list-inbound"], env=env)
        assert out.exit_code == 1 and "upgrade Mailgate on this host" in out.output
        from mailgate.shared.config import from_env

        check = health.check_database(from_env(env), db)
        assert not check.ok and "newer than this Mailgate" in check.detail and "Upgrade Mailgate" in check.fix
        out = CliRunner().invoke(main, ["init"], env=env)  # nor can init help: it says so, in one line
        assert out.exit_code == 1 and "upgrade Mailgate on this host" in out.output
        assert len(out.output.strip().splitlines()) == 1
    finally:
        with db.engine.begin() as conn:
            conn.execute(text(f"UPDATE alembic_version SET version_num = '{schema.head_revision()}'"))
