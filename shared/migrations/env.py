"""Alembic environment: run on the connection handed in by mailgate.shared.schema."""

from alembic import context

from mailgate.shared import models  # noqa: F401  (registers every table)
from mailgate.shared.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `mailgate init`, which supplies the connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
