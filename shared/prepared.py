"""Core statements compiled once per dialect and run straight on the DBAPI connection.

Why: on the per-message path (every RCPT, every received message) SQLAlchemy's
`Connection.execute()` spends more Python per statement -- execution context,
parameter coercion, result wrapping, event dispatch -- than SQLite needs to
run the statement itself (bench/RESULTS.md). The statements stay Core
expressions written against the models, so the schema, the dialect's SQL and
its type conversions (JSON, DATETIME on SQLite, bind casts on PostgreSQL) are
SQLAlchemy's; only the execution is done here: compiled once, parameters put in
order with the type's own bind processor, rows passed through the type's own
result processor.

`Conn` is that execution over one DBAPI connection, which it owns outright
(`Database.pipeline()`/`reading()`, `durability.transaction()`): the mail
path's functions (tracker, notify, addresses, keys) take one, and the
console and the CLI act through them with one too, never through an ORM
Session's connection behind the Session's back. Errors come out as
SQLAlchemy's exception classes (IntegrityError, OperationalError, ...), so
callers and `db.is_unavailable()` need not know which path ran.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import DateTime, Integer, Table, bindparam, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

_PROBES = (datetime(2026, 12, 1, 23, 59, 58, 123456), datetime(987, 1, 2, 3, 4, 5), datetime(2026, 1, 1))


def _bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The type's bind processor; for SQLite's DATETIME a faster one that writes the very same text.

    Why: SQLAlchemy formats a datetime for SQLite with a %-format over a
    dict of its seven fields, about ten times per message; datetime.isoformat
    writes the same characters in C. Used only if it matches the type's own
    format on a few probes (a custom storage format keeps SQLAlchemy's), and
    only for naive datetimes (SQLAlchemy drops a time zone, isoformat would not).
    """
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    if process is None or dialect.name != "sqlite" or not isinstance(type_, DateTime):
        return process
    if any(process(p) != p.isoformat(" ", "microseconds") for p in _PROBES):
        return process

    def naive_datetime(value: Any, _exact: type = datetime) -> Any:
        if value.__class__ is _exact and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return process(value)
    return naive_datetime


class _Compiled:
    """One statement as one dialect runs it: SQL text, how to build its parameters, how to read its rows."""

    __slots__ = ("sql", "positional", "names", "fixed", "processors", "result_processors")

    def __init__(self, expr: ClauseElement, dialect: Dialect) -> None:
        compiled = expr.compile(dialect=dialect)
        if getattr(compiled, "escaped_bind_names", None):
            raise ValueError(f"bind names needing escapes are not supported: {compiled.escaped_bind_names}")
        self.sql = compiled.string
        self.positional = compiled.positional
        by_name = {name: bp for bp, name in compiled.bind_names.items()}
        self.names = tuple(compiled.positiontup if compiled.positional else by_name)
        # Values written into the statement itself (`column + 1`): used unless the caller gives one.
        self.fixed = {n: bp.effective_value for n, bp in by_name.items() if not bp.required}
        processors = ((i, _bind_processor(by_name[n].type, dialect)) for i, n in enumerate(self.names))
        self.processors = tuple((i, p) for i, p in processors if p is not None)
        columns = getattr(expr, "exported_columns", None) or ()
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self.result_processors = tuple(processors) if any(processors) else None

    def _in_order(self, given: Mapping[str, Any] | None) -> list[Any]:
        """The statement's values in bind order, not yet processed; a missing one is a KeyError naming it."""
        if self.fixed:
            given = {**self.fixed, **(given or {})}
        elif given is None:
            given = {}
        return [given[n] for n in self.names]

    def _shaped(self, values: list[Any]) -> Sequence[Any] | dict[str, Any]:
        return values if self.positional else dict(zip(self.names, values))

    def parameters(self, given: Mapping[str, Any] | None) -> Sequence[Any] | dict[str, Any]:
        values = self._in_order(given)
        for i, process in self.processors:
            values[i] = process(values[i])
        return self._shaped(values)

    def parameters_many(self, rows: Iterable[Mapping[str, Any]]) -> list[Sequence[Any] | dict[str, Any]]:
        """parameters() for each row, each value object processed once: rows of one event share most of
        theirs (a notification per subscriber has the same created_at, headers and bodies)."""
        done: dict[tuple[int, int], Any] = {}  # (position, id(value)): `rows` keeps every value alive meanwhile
        out = []
        for given in rows:
            values = self._in_order(given)
            for i, process in self.processors:
                key = (i, id(values[i]))
                if key in done:
                    values[i] = done[key]
                else:
                    values[i] = done[key] = process(values[i])
            out.append(self._shaped(values))
        return out

    def row(self, row: tuple | None) -> tuple | None:
        if row is None or self.result_processors is None:
            return row
        return tuple(p(v) if p is not None else v for p, v in zip(self.result_processors, row))


class Statement:
    """A Core statement (select, insert, update, delete) prepared for `Conn`.

    Bind parameters are named with `bindparam("name")`; an INSERT names every
    column it sets (`insert(t).values(col=bindparam("col"), ...)`), because
    column defaults are SQLAlchemy's execution-time work, not part of the SQL.
    """

    __slots__ = ("expr", "_by_dialect", "_last")

    def __init__(self, expr: ClauseElement) -> None:
        self.expr = expr
        self._by_dialect: dict[tuple[str, str], _Compiled] = {}
        self._last: tuple[Dialect, _Compiled] | None = None  # a process has one dialect: no key built per call

    def compiled(self, dialect: Dialect) -> _Compiled:
        last = self._last
        if last is not None and last[0] is dialect:
            return last[1]
        key = (dialect.name, dialect.driver)
        found = self._by_dialect.get(key)
        if found is None:
            found = self._by_dialect[key] = _Compiled(self.expr, dialect)
        self._last = (dialect, found)
        return found

    def fill(self, params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        return params

    def __repr__(self) -> str:
        return f"Statement({self.expr})"


class Insert(Statement):
    """An INSERT of every column but an autoincrement key; values not given come from the columns' defaults.

    The same values the ORM would write (`default=utcnow`, `default=""`,
    `default=list`), so a row written here reads back like one the console
    wrote.
    """

    __slots__ = ("_scalars", "_callables")

    def __init__(self, table: Table, *, returning: Any = None) -> None:
        columns = [c for c in table.columns if not _is_autoincrement_key(table, c)]
        for c in columns:  # what SQLAlchemy would work out at execution time: not done here, so refused
            if c.server_default is not None or (c.default is not None and not (c.default.is_scalar
                                                                               or c.default.is_callable)):
                raise ValueError(f"{table.name}.{c.key}: only Python scalar or callable defaults are supported")
        expr = insert(table).values({c.key: bindparam(c.key) for c in columns})
        super().__init__(expr.returning(returning) if returning is not None else expr)
        # Scalar defaults (and NULL for no default) are laid under the given values in one dict copy;
        # callable ones (utcnow, list) are called only for a key not given.
        self._scalars = {c.key: None if c.default is None else c.default.arg
                         for c in columns if c.default is None or not c.default.is_callable}
        self._callables = tuple((c.key, c.default.arg) for c in columns
                                if c.default is not None and c.default.is_callable)

    def fill(self, params: Mapping[str, Any] | None) -> Mapping[str, Any]:
        filled = {**self._scalars, **params} if params else dict(self._scalars)
        for key, make in self._callables:
            if key not in filled:
                filled[key] = make(None)
        return filled


def _is_autoincrement_key(table: Table, column: Any) -> bool:
    return (column.primary_key and len(table.primary_key.columns) == 1 and not column.foreign_keys
            and isinstance(column.type, Integer) and column.autoincrement in (True, "auto"))


class Conn:
    """Statements on one DBAPI connection, inside whatever transaction it is in.

    `memo` holds what a unit of work reads once (the signing key, a task's
    subscribers); it lives as long as this object (the pipeline's: one
    batch of messages) and is cleared when a savepoint is rolled back.
    """

    __slots__ = ("dbapi", "dialect", "memo", "waited", "_error", "_fairy", "_sqlite", "_turn", "_holding")

    def __init__(self, dbapi_connection: Any, dialect: Dialect, fairy: Any = None,
                 turn: threading.Lock | None = None) -> None:
        self.dbapi = dbapi_connection
        self.dialect = dialect
        self.memo: dict[str, Any] = {}
        self.waited = 0.0  # seconds spent waiting for the writer turn
        self._error = dialect.loaded_dbapi.Error
        self._fairy = fairy  # the pool's handle, when this Conn owns the connection (invalidated on disconnect)
        self._sqlite = dialect.name == "sqlite"
        self._turn = turn  # held from begin_write() to commit()/rollback(): one writer per process
        self._holding = False

    # --- running statements ----------------------------------------------------------

    def execute(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> Any:
        """Run one statement; returns the DBAPI cursor (rows not yet processed)."""
        return self._run(stmt.compiled(self.dialect), stmt, params)

    def _run(self, c: _Compiled, stmt: Statement, params: Mapping[str, Any] | None) -> Any:
        args = c.parameters(stmt.fill(params))
        try:
            if self._sqlite:
                return self.dbapi.execute(c.sql, args)
            cur = self.dbapi.cursor()
            cur.execute(c.sql, args)
            return cur
        except self._error as e:
            raise self._translate(e, c.sql) from e

    def executemany(self, stmt: Statement, rows: Iterable[Mapping[str, Any]]) -> None:
        """One statement for many parameter sets (no RETURNING)."""
        c = stmt.compiled(self.dialect)
        filled = [stmt.fill(r) for r in rows]
        args = c.parameters_many(filled)
        if not args:
            return
        try:
            cur = self.dbapi.cursor()
            cur.executemany(c.sql, args)
        except self._error as e:
            raise self._translate(e, c.sql) from e

    def first(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> tuple | None:
        c = stmt.compiled(self.dialect)
        row = self._run(c, stmt, params).fetchone()
        return row if c.result_processors is None else c.row(row)

    def scalar(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> Any:
        row = self.first(stmt, params)
        return None if row is None else row[0]

    def all(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> list[tuple]:
        c = stmt.compiled(self.dialect)
        rows = self._run(c, stmt, params).fetchall()
        return rows if c.result_processors is None else [c.row(r) for r in rows]

    def column(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> list[Any]:
        return [r[0] for r in self.all(stmt, params)]

    def run_sql(self, sql: str) -> None:
        """A fixed statement with no parameters (BEGIN, SAVEPOINT, a PRAGMA)."""
        try:
            if self._sqlite:
                self.dbapi.execute(sql)
            else:
                self.dbapi.cursor().execute(sql)
        except self._error as e:
            raise self._translate(e, sql) from e

    # --- transactions (for the owner of the connection) ------------------------------

    def begin_write(self) -> None:
        """Take the process's writer turn, then SQLite's write lock (BEGIN IMMEDIATE); PostgreSQL begins on
        the first statement. The turn is held until commit() or a rollback: only for the transaction, so
        the work around it (parsing, the fsync) runs while another message writes."""
        if self._turn is not None and not self._holding:
            t0 = time.perf_counter()
            self._turn.acquire()
            self._holding = True
            self.waited += time.perf_counter() - t0
        if self._sqlite:
            try:
                self.run_sql("BEGIN IMMEDIATE")
            except BaseException:
                self.release_turn()
                raise

    def commit(self) -> None:
        try:
            self.dbapi.commit()
        except self._error as e:
            error = self._translate(e, "COMMIT")
            self._rollback_raw()  # a failed COMMIT (SQLite) leaves the transaction open: end it within the turn
            raise error from e
        finally:
            self.release_turn()

    def rollback_quietly(self) -> None:
        """Roll back after a failure that is already being raised (a dead connection cannot, and need not)."""
        try:
            self._rollback_raw()
        finally:
            self.release_turn()

    def _rollback_raw(self) -> None:
        try:
            self.dbapi.rollback()
        except Exception:  # noqa: BLE001 -- the original error is the one that matters
            pass

    def savepoint(self) -> None:
        """One message's work inside a larger transaction (SAVEPOINT; then release or roll back to it)."""
        self.run_sql("SAVEPOINT mailgate_message")

    def release_savepoint(self) -> None:
        self.run_sql("RELEASE SAVEPOINT mailgate_message")

    def rollback_to_savepoint(self) -> None:
        """Undo the message's work; the savepoint stays (release it), the transaction goes on.

        What was read into `memo` may have been undone with it (a subscriber
        added, then rolled back): forgotten, read again when needed.
        """
        self.run_sql("ROLLBACK TO SAVEPOINT mailgate_message")
        self.memo.clear()

    def release_turn(self) -> None:
        if self._holding:
            self._holding = False
            self._turn.release()

    @contextmanager
    def write(self) -> Iterator["Conn"]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        self.begin_write()
        try:
            yield self
        except BaseException:
            self.rollback_quietly()
            raise
        self.commit()

    # --- errors ----------------------------------------------------------------------

    def _translate(self, e: Exception, sql: str) -> sa_exc.DBAPIError:
        """The DBAPI error as SQLAlchemy would raise it; a dead connection is dropped from the pool."""
        try:
            gone = self.dialect.is_disconnect(e, self.dbapi, None) or spoils_connection(e)
        except Exception:  # noqa: BLE001 -- classification only
            gone = False
        if gone and self._fairy is not None:
            try:
                self._fairy.invalidate(e)
            except Exception:  # noqa: BLE001 -- it is being thrown away anyway
                pass
        return sa_exc.DBAPIError.instance(sql, None, e, self._error, hide_parameters=True,
                                          connection_invalidated=gone, dialect=self.dialect)


# SQLite errors that condemn the connection, not the statement, and may pass: a file it opened
# read-only because it could not write it then, an I/O error, a file it could not open.
_SPOILING = ("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")


def spoils_connection(exc: BaseException) -> bool:
    """True when an SQLite error means: throw this connection away (a fresh one may work)."""
    exc = getattr(exc, "orig", None) or exc
    return (getattr(exc, "sqlite_errorname", None) or "").startswith(_SPOILING)
