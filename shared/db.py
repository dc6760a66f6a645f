"""Engine, sessions and the one transaction scope.

One Database object per process, created from Settings and passed around
(no module-level singleton): the milter, the CLI and the console each build
their own. SQLite gets WAL, a busy timeout and synchronous=FULL so that a
commit is on disk before the milter answers; PostgreSQL gets pre-ping so a
restarted server is picked up without restarting Mailgate.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Naive UTC timestamps everywhere: SQLite has no time zones, and mixing is worse."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


READ_ONLY = "mailgate_read_only"
# A write transaction whose commit need not be fsynced on its own: in WAL mode
# the next fully synchronous commit (the store of the next message) makes it
# durable too. Used for processing outcomes, which are recoverable from the
# stored message should power fail in between (see pipeline.recover_stale).
LAZY_SYNC = "mailgate_lazy_sync"
# Engine-wide: the owner makes commits durable itself (the milter fsyncs the
# WAL once for a group of commits before it answers), so transactions run
# with the connection's synchronous=NORMAL and no per-commit pragma.
GROUP_SYNC = "mailgate_group_sync"


def configure_sqlite(engine: Engine) -> None:
    """WAL, durability pragmas, and explicit BEGIN handling for an SQLite engine.

    pysqlite's own transaction handling defers BEGIN until the first write,
    which breaks SAVEPOINTs and lets two writers interleave a read-then-write
    (in WAL the late upgrade fails at once with SQLITE_BUSY_SNAPSHOT). So we
    take control: writers start with BEGIN IMMEDIATE and queue on the busy
    timeout; read-only scopes (execution option READ_ONLY) use a plain BEGIN
    and never wait for a writer.
    """
    event.listen(engine, "connect", _sqlite_pragmas)

    @event.listens_for(engine, "connect")
    def _no_autobegin(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        options = conn.get_execution_options()
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        if not options.get(GROUP_SYNC):
            # Connection-level pragma, so set it for every write transaction.
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL" if options.get(LAZY_SYNC) else "PRAGMA synchronous=FULL")
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 10, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def is_unavailable(exc: BaseException) -> bool:
    """True when an error means 'the database is unreachable or busy': retry later."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return False


class Database:
    """An engine and its session factory; one per process."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_engine(cls, engine: Engine) -> "Database":
        """Wrap an engine made elsewhere (the console's Flask-SQLAlchemy engine): one pool, one set of pragmas."""
        db = cls.__new__(cls)
        db.url = str(engine.url)
        db.engine = engine
        db.sessions = sessionmaker(engine, expire_on_commit=False)
        return db

    @classmethod
    def from_settings(cls, settings) -> "Database":
        if settings.is_sqlite:
            path = settings.database_url.split("///", 1)[-1]
            if path and path != ":memory:":
                from pathlib import Path

                Path(path).parent.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The one transaction scope: commit on success, roll back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only scope: never takes SQLite's write lock."""
        session = self.sessions()
        try:
            session.connection(execution_options={READ_ONLY: True})
            yield session
        finally:
            session.rollback()
            session.close()

    @contextmanager
    def session(self, lazy_sync: bool = False) -> Iterator[Session]:
        """A session whose commits the caller controls (the pipeline's steps)."""
        session = self.sessions()
        try:
            if lazy_sync:
                session.connection(execution_options={LAZY_SYNC: True})
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
