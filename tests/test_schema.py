"""The Alembic migrations build exactly the schema the models describe (on SQLite and PostgreSQL)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mailgate.shared import schema
from mailgate.shared.db import Base

# Search index tables the console maintains with triggers (SQLite FTS5); not ORM models.
NOT_MODELS = ("received_search",)


def test_migrations_match_the_models(db):
    assert schema.is_current(db)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    drift = [d for d in diff if not any(name in str(d) for name in NOT_MODELS)]
    assert drift == []


def test_init_is_idempotent(db):
    first = schema.init(db)
    again = schema.init(db)
    assert first["mail_key"] == again["mail_key"] and again["schema_from"] == again["schema"]
