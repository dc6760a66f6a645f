"""Engine, sessions and the one transaction scope.

One Database object per process, created from Settings and passed around
(no module-level singleton): the milter, the CLI and the console each build
their own. SQLite gets WAL, a busy timeout and synchronous=FULL so that a
commit is on disk before the milter answers; PostgreSQL gets pre-ping so a
restarted server is picked up without restarting Mailgate.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
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
# A write transaction whose commit is not fsynced on its own: the caller makes
# it durable with Database.make_durable() (one WAL fsync for all of a
# message's commits) before it answers. The pipeline's connection has it.
LAZY_SYNC = "mailgate_lazy_sync"
# Engine-wide: the owner makes commits durable itself (the milter fsyncs the
# WAL once for a group of commits before it answers), so transactions run
# with the connection's synchronous=NORMAL and no per-commit pragma.
GROUP_SYNC = "mailgate_group_sync"


_SYNC_MODE = "mailgate_sync_mode"


class WalSync:
    """fsync an SQLite database's WAL file: every commit written before the call is then on disk.

    In WAL mode this is exactly what synchronous=FULL adds to each commit, so
    a writer with several commits per unit of work (the pipeline: store, then
    outcome) pays for one fsync instead of one per commit. SQLite deletes the
    WAL when its last connection closes (after checkpointing it into the
    database file) and creates a new one later: the file is held open to
    notice that (its link count drops to 0), and a new file's directory entry
    is synced once so that the file itself survives a power cut. SQLite puts
    no locks on the WAL file, so holding it open is safe.
    """

    def __init__(self, db_path: str):
        self.wal = db_path + "-wal"
        self.directory = str(Path(db_path).parent)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def sync(self) -> None:
        with self._lock:
            fd = self._fd
            if fd is not None and os.fstat(fd).st_nlink == 0:  # replaced since: sync the new one
                self.close()
                fd = None
            new = fd is None
            if new:
                try:
                    fd = self._fd = os.open(self.wal, os.O_RDONLY)
                except FileNotFoundError:
                    return  # no WAL: everything was checkpointed (and synced) into the database file
            os.fsync(fd)
            if new:
                dfd = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sqlite_path(url: str) -> str | None:
    """The database file of an SQLite URL; None for in-memory databases and other engines."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return path if path and path != ":memory:" else None


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
            # A connection-level pragma: set it when this transaction wants another mode
            # than the connection's last one (connections are pooled and shared).
            wanted = "NORMAL" if options.get(LAZY_SYNC) else "FULL"
            info = conn.connection.info
            if info.get(_SYNC_MODE) != wanted:
                conn.exec_driver_sql(f"PRAGMA synchronous={wanted}")
                info[_SYNC_MODE] = wanted
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
        self._init_durability()

    def _init_durability(self) -> None:
        path = sqlite_path(self.url)
        self.wal_sync = WalSync(path) if path else None

    @classmethod
    def from_engine(cls, engine: Engine) -> "Database":
        """Wrap an engine made elsewhere (the console's Flask-SQLAlchemy engine): one pool, one set of pragmas."""
        db = cls.__new__(cls)
        db.url = str(engine.url)
        db.engine = engine
        db.sessions = sessionmaker(engine, expire_on_commit=False)
        db._init_durability()
        return db

    @classmethod
    def from_settings(cls, settings) -> "Database":
        path = sqlite_path(settings.database_url)
        if path:
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
    def session(self, lazy_sync: bool = False, bind: Connection | None = None) -> Iterator[Session]:
        """A session whose commits the caller controls (the pipeline's steps).

        With `bind`, the session works on that connection (see pipeline()).
        """
        session = self.sessions(bind=bind) if bind is not None else self.sessions()
        try:
            if lazy_sync and bind is None:
                session.connection(execution_options={LAZY_SYNC: True})
            yield session
        finally:
            session.close()

    @contextmanager
    def pipeline(self) -> Iterator[Connection]:
        """One connection for all of a message's transactions, committed without a per-commit fsync.

        The caller calls make_durable() after the last commit and before it
        answers for the message. One checkout and one fsync per message,
        where two sessions with a FULL commit each cost twice as much.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{LAZY_SYNC: True})
            yield conn

    def make_durable(self) -> None:
        """Put every commit made so far on disk (SQLite); PostgreSQL commits are durable already.

        An engine with GROUP_SYNC belongs to an owner that syncs for a whole
        group of sessions itself (the milter), so this is a no-op there.
        """
        if self.wal_sync is None or self.engine.get_execution_options().get(GROUP_SYNC):
            return
        self.wal_sync.sync()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.wal_sync is not None:
            self.wal_sync.close()
