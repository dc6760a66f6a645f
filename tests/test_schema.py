"""The Alembic migrations build exactly the schema the models describe (on SQLite and PostgreSQL)."""

import pytest
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


def test_the_revisions_read_without_alembic_are_alembics():
    """The start-up check's head and known revisions (read from the files as text) are Alembic's own."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(schema.alembic_config())
    assert schema.head_revision() == script.get_current_head()
    assert set(schema.revisions()) == {r.revision for r in script.walk_revisions()}
    for rev in script.walk_revisions():
        assert schema.revisions()[rev.revision] == tuple(rev._versioned_down_revisions)


def test_the_head_is_read_from_annotated_and_merge_migrations(tmp_path, monkeypatch):
    """Alembic's newer template annotates the assignments; a merge migration follows two revisions."""
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text("revision: str = 'b'\ndown_revision: Union[str, None] = 'a'\n")
    (tmp_path / "c.py").write_text('"""Text mentioning revision = "x" inside a docstring line."""\n'
                                   'revision = "c"\ndown_revision = "a"\n')
    monkeypatch.setattr(schema, "VERSIONS", tmp_path)
    schema.revisions.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="2 heads"):
            schema.head_revision()
        (tmp_path / "d.py").write_text('revision = "d"\ndown_revision = ("b", "c")\n')
        schema.revisions.cache_clear()
        assert schema.head_revision() == "d" and schema.revisions()["d"] == ("b", "c")
    finally:
        schema.revisions.cache_clear()


def test_the_start_up_check_reads_the_version_table_with_plain_sql(db):
    from sqlalchemy import text

    assert schema.current_revision(db) == schema.head_revision()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    assert schema.current_revision(db) is None  # not initialised, not an error


def test_the_pipe_ingress_imports_neither_alembic_nor_flask_nor_bs4(env, seed):
    """`mailgate receive` starts a process per message: its schema check must not pay for Alembic, nor the
    command for the console's Flask, nor a text/plain message for the HTML parser."""
    import os
    import subprocess
    import sys

    from .conftest import make_mail

    code = ("import atexit, sys\n"
            "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'flask', 'bs4'})))\n"
            "from mailgate.webui.cli import main\n"
            "main(['receive', '--sender', 'alice@example.org', '--recipient', sys.argv[1]])\n")
    out = subprocess.run([sys.executable, "-P", "-c", code, seed.create_address], input=make_mail(subject="Piped"),
                         env={**os.environ, **env}, capture_output=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip().splitlines()[-1] == "[]"
    with seed.db.read() as s:
        from sqlalchemy import select

        from mailgate.shared.models import ReceivedMessage
        assert s.scalars(select(ReceivedMessage.subject)).all() == ["Piped"]
