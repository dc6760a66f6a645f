"""Engine, sessions and the one transaction scope.

One Database object per process, created from Settings and passed around
(no module-level singleton): the milter, the CLI and the console each build
their own. SQLite gets WAL and a busy timeout; a console or CLI commit is
synchronous=FULL (on disk when it returns), the pipeline's commits are made
durable together before the message is answered (`pipeline()`,
`make_durable()`; the promise and the group commit: `durability.py`).
PostgreSQL gets pre-ping so a restarted server is picked up without
restarting Mailgate.
"""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from mailgate.shared.durability import WalSync
from mailgate.shared.prepared import Conn, spoils_connection

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_EPOCH = datetime(1970, 1, 1)

PG_CONNECT_TIMEOUT = 5  # seconds; a database URL's own ?connect_timeout= wins


def utcnow() -> datetime:
    """Naive UTC timestamps everywhere: SQLite has no time zones, and mixing is worse.

    The epoch plus time.time(), not datetime.now(timezone.utc) without its zone:
    the same instant, cheaper, and a message takes a couple of dozen of them.
    """
    return _EPOCH + timedelta(seconds=time.time())


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


READ_ONLY = "mailgate_read_only"
_SYNC_MODE = "mailgate_sync_mode"  # the synchronous pragma a pooled SQLite connection was last set to


def sqlite_path(url: str) -> str | None:
    """The database file of an SQLite URL; None for in-memory databases and other engines."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return path if path and path != ":memory:" else None


_WRITABLE = "mailgate_opened_writable"  # connection info: could the files be written when it was opened?


def _files_writable(path: str) -> bool:
    """The database file and its -wal and -shm (where they exist) can be written by this process."""
    return all(os.access(p, os.W_OK) for p in (path, path + "-wal", path + "-shm")
               if p == path or os.path.exists(p))


def _discard_unwritable_connections(engine: Engine, path: str) -> None:
    """SQLite opens a file it cannot write read-only, without a word; pooled, that connection would fail
    every write for the life of the process. Remember how each was opened, and at checkout replace one
    opened unwritable as soon as the files can be written again (reads go on while they cannot). An
    error that condemns the connection (spoils_connection) drops it too, and the pool with it."""

    @event.listens_for(engine, "connect")
    def _opened(_dbapi_conn, record) -> None:
        record.info[_WRITABLE] = _files_writable(path)

    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi_conn, record, _proxy) -> None:
        if not record.info.get(_WRITABLE, True) and _files_writable(path):
            raise DisconnectionError("opened while the database could not be written; writable again")

    @event.listens_for(engine, "handle_error")
    def _spoiled(ctx) -> None:
        if spoils_connection(ctx.original_exception):
            ctx.is_disconnect = True


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
        # A console or CLI change is on disk when it commits. The pragma is per
        # connection and connections are pooled (the pipeline sets NORMAL on its
        # own): set it only when the last transaction on this one wanted another mode.
        info = conn.connection.info
        if info.get(_SYNC_MODE) != "FULL":
            conn.exec_driver_sql("PRAGMA synchronous=FULL")
            info[_SYNC_MODE] = "FULL"
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_EMPTY_JSON = {type(None): "null", list: "[]", dict: "{}"}


def json_dumps(value) -> str:
    """json.dumps, with the values most JSON columns hold on most rows (none, [] and {}) as constants.

    A received message writes ten JSON values, most of them empty lists,
    and json.dumps is not free even for those.
    """
    if not value:
        empty = _EMPTY_JSON.get(type(value))
        if empty is not None:
            return empty
    return json.dumps(value)


def engine_options(url: str) -> dict:
    """Connection options for an engine on `url`: the pipeline's (make_engine) and the console's."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 10, "check_same_thread": False}}
    options: dict = {"pool_pre_ping": True}
    if "connect_timeout" not in make_url(url).query:
        # libpq waits for ever on a server that takes the connection and never answers; a bounded wait
        # lets every caller give its temporary answer (451, 503) and be retried (docs/fleet.md, "Faults").
        options["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT}
    return options


def make_engine(url: str, **kwargs) -> Engine:
    kwargs.setdefault("json_serializer", json_dumps)
    options = engine_options(url)
    kwargs["connect_args"] = {**options.pop("connect_args", {}), **kwargs.get("connect_args", {})}
    for name, value in options.items():
        kwargs.setdefault(name, value)
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        configure_sqlite(engine)
        path = sqlite_path(url)
        if path:
            _discard_unwritable_connections(engine, path)
        return engine
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
        # One pipeline writer at a time in this process. On SQLite a second
        # BEGIN IMMEDIATE would sleep in the busy handler's growing back-off
        # (a long tail of latency under concurrent SMTP sessions); on PostgreSQL
        # concurrent replies to one task wait on each other's row locks and
        # time out into 451s. The GIL serialises the CPU-bound work anyway.
        # Other processes and hosts still write concurrently (busy timeout,
        # row locks, dedupe claims).
        self._writer = threading.Lock()

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
    def pipeline(self) -> Iterator[Conn]:
        """One pooled connection for the transactions of a message or a batch, each taking the writer turn.

        Commits on it are not fsynced one by one (SQLite: synchronous=NORMAL):
        use it through `durability.unit()`, which makes them durable before
        anyone is answered. Prepared statements on the DBAPI connection
        (prepared.Conn): no Session, no per-statement SQLAlchemy overhead.
        """
        fairy = self.engine.raw_connection()
        conn = Conn(fairy.driver_connection, self.engine.dialect, fairy, turn=self._writer)
        try:
            if self.wal_sync is not None and fairy.info.get(_SYNC_MODE) != "NORMAL":
                conn.run_sql("PRAGMA synchronous=NORMAL")
                fairy.info[_SYNC_MODE] = "NORMAL"
            yield conn
        finally:
            try:
                fairy.close()  # back to the pool, rolled back if a transaction was left open
            finally:
                conn.release_turn()  # only now: the rollback above still held SQLite's write lock

    @contextmanager
    def reading(self) -> Iterator[Conn]:
        """Prepared statements for reads (the milter's RCPT check): no transaction on SQLite, never a write lock."""
        fairy = self.engine.raw_connection()
        try:
            yield Conn(fairy.driver_connection, self.engine.dialect, fairy)
        finally:
            fairy.close()

    def make_durable(self) -> None:
        """Put every commit made so far on disk (SQLite, group commit); PostgreSQL commits are durable already."""
        if self.wal_sync is not None:
            self.wal_sync.sync()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.wal_sync is not None:
            self.wal_sync.close()
