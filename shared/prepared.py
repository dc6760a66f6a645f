"""Core statements compiled once per dialect and run straight on the DBAPI connection.

Why: on the per-message path (every RCPT, every received message) SQLAlchemy's
`Connection.execute()` costs ~20 µs of Python per statement -- execution
context, parameter coercion, result wrapping, event dispatch -- three to five
times what SQLite needs to run the statement itself. The statements stay Core
expressions written against the models, so the schema, the dialect's SQL and
its type conversions (JSON, DATETIME on SQLite, bind casts on PostgreSQL) are
SQLAlchemy's; only the execution is done here: compiled once, parameters put in
order with the type's own bind processor, rows passed through the type's own
result processor.

`Conn` is that execution over one DBAPI connection. The pipeline owns its
connections outright (`Database.pipeline()`/`reading()`); everything else can
wrap the connection of an ORM Session or a Core Connection with `as_conn()`
and run the same functions inside that transaction. Errors come out as
SQLAlchemy's exception classes (IntegrityError, OperationalError, ...), so
callers and `db.is_unavailable()` need not know which path ran.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Integer, Table, bindparam, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

_REQUIRED = object()


class _Compiled:
    """One statement as one dialect runs it: SQL text, how to build its parameters, how to read its rows."""

    __slots__ = ("sql", "positional", "binds", "result_processors")

    def __init__(self, expr: ClauseElement, dialect: Dialect) -> None:
        compiled = expr.compile(dialect=dialect)
        if getattr(compiled, "escaped_bind_names", None):
            raise ValueError(f"bind names needing escapes are not supported: {compiled.escaped_bind_names}")
        self.sql = compiled.string
        self.positional = compiled.positional
        by_name = {name: bp for bp, name in compiled.bind_names.items()}
        names = compiled.positiontup if compiled.positional else list(by_name)
        binds = []
        for name in names:
            bp = by_name[name]
            fixed = _REQUIRED if bp.required else bp.effective_value
            binds.append((name, fixed, bp.type.dialect_impl(dialect).bind_processor(dialect)))
        self.binds = tuple(binds)
        columns = getattr(expr, "exported_columns", None) or ()
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self.result_processors = tuple(processors) if any(processors) else None

    def parameters(self, given: Mapping[str, Any] | None) -> Sequence[Any] | dict[str, Any]:
        given = given or {}
        values = []
        for name, fixed, process in self.binds:
            value = given[name] if fixed is _REQUIRED else given.get(name, fixed)
            values.append(process(value) if process is not None and value is not None else value)
        if self.positional:
            return values
        return {name: value for (name, _, _), value in zip(self.binds, values)}

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

    __slots__ = ("expr", "_by_dialect")

    def __init__(self, expr: ClauseElement) -> None:
        self.expr = expr
        self._by_dialect: dict[tuple[str, str], _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver)
        found = self._by_dialect.get(key)
        if found is None:
            found = self._by_dialect[key] = _Compiled(self.expr, dialect)
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

    __slots__ = ("_defaults",)

    def __init__(self, table: Table, *, returning: Any = None) -> None:
        columns = [c for c in table.columns if not _is_autoincrement_key(table, c)]
        expr = insert(table).values({c.key: bindparam(c.key) for c in columns})
        super().__init__(expr.returning(returning) if returning is not None else expr)
        self._defaults = tuple((c.key, c.default) for c in columns)

    def fill(self, params: Mapping[str, Any] | None) -> Mapping[str, Any]:
        filled = dict(params or {})
        for key, default in self._defaults:
            if key not in filled:
                if default is None:
                    filled[key] = None
                else:
                    filled[key] = default.arg(None) if default.is_callable else default.arg
        return filled


def _is_autoincrement_key(table: Table, column: Any) -> bool:
    return (column.primary_key and len(table.primary_key.columns) == 1 and not column.foreign_keys
            and isinstance(column.type, Integer) and column.autoincrement in (True, "auto"))


class Conn:
    """Statements on one DBAPI connection, inside whatever transaction it is in.

    `memo` holds what a unit of work reads once (the signing key, a task's
    subscribers); it lives as long as this object, i.e. one message.
    """

    __slots__ = ("dbapi", "dialect", "memo", "_error", "_fairy", "_sqlite")

    def __init__(self, dbapi_connection: Any, dialect: Dialect, fairy: Any = None) -> None:
        self.dbapi = dbapi_connection
        self.dialect = dialect
        self.memo: dict[str, Any] = {}
        self._error = dialect.loaded_dbapi.Error
        self._fairy = fairy  # the pool's handle, when this Conn owns the connection (invalidated on disconnect)
        self._sqlite = dialect.name == "sqlite"

    @property
    def is_sqlite(self) -> bool:
        return self._sqlite

    # --- running statements ----------------------------------------------------------

    def execute(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> Any:
        """Run one statement; returns the DBAPI cursor (rows not yet processed)."""
        c = stmt.compiled(self.dialect)
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
        args = [c.parameters(stmt.fill(r)) for r in rows]
        if not args:
            return
        try:
            cur = self.dbapi.cursor()
            cur.executemany(c.sql, args)
        except self._error as e:
            raise self._translate(e, c.sql) from e

    def first(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> tuple | None:
        cur = self.execute(stmt, params)
        return stmt.compiled(self.dialect).row(cur.fetchone())

    def scalar(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> Any:
        row = self.first(stmt, params)
        return None if row is None else row[0]

    def all(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> list[tuple]:
        cur = self.execute(stmt, params)
        c = stmt.compiled(self.dialect)
        rows = cur.fetchall()
        return rows if c.result_processors is None else [c.row(r) for r in rows]

    def column(self, stmt: Statement, params: Mapping[str, Any] | None = None) -> list[Any]:
        return [r[0] for r in self.all(stmt, params)]

    def run_sql(self, sql: str) -> None:
        """A fixed statement with no parameters (BEGIN, COMMIT, a PRAGMA)."""
        try:
            self.dbapi.execute(sql)
        except self._error as e:
            raise self._translate(e, sql) from e

    # --- transactions (for the owner of the connection) ------------------------------

    def begin_write(self) -> None:
        """SQLite: take the write lock now (BEGIN IMMEDIATE); PostgreSQL begins on the first statement."""
        if self._sqlite:
            self.run_sql("BEGIN IMMEDIATE")

    def commit(self) -> None:
        try:
            self.dbapi.commit()
        except self._error as e:
            raise self._translate(e, "COMMIT") from e

    def rollback(self) -> None:
        try:
            self.dbapi.rollback()
        except self._error as e:
            raise self._translate(e, "ROLLBACK") from e

    def rollback_quietly(self) -> None:
        """Roll back after a failure that is already being raised (a dead connection cannot, and need not)."""
        try:
            self.dbapi.rollback()
        except Exception:  # noqa: BLE001 -- the original error is the one that matters
            pass

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
            gone = self.dialect.is_disconnect(e, self.dbapi, None)
        except Exception:  # noqa: BLE001 -- classification only
            gone = False
        if gone and self._fairy is not None:
            try:
                self._fairy.invalidate(e)
            except Exception:  # noqa: BLE001 -- it is being thrown away anyway
                pass
        return sa_exc.DBAPIError.instance(sql, None, e, self._error, hide_parameters=True,
                                          connection_invalidated=gone, dialect=self.dialect)


def as_conn(source: Conn | Session | Connection) -> Conn:
    """A Conn inside the transaction of an ORM Session or a Core Connection (begun if it was not).

    ORM objects already loaded in that session do not see what statements run
    here change (as with any Core statement); the callers re-read or set the
    attributes they show.
    """
    if isinstance(source, Conn):
        return source
    if isinstance(source, Session):
        source = source.connection()
    if not source.in_transaction():
        source.begin()
    return Conn(source.connection.driver_connection, source.dialect)
