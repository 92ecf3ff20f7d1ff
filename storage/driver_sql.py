"""The batch writer's hottest statements, compiled once per dialect and run on the
database driver's own cursor.

Through `Connection.execute` SQLAlchemy looks up the statement's compiled form, builds a
parameter dictionary and runs each type's processors for every row, every time: on
SQLite that costs more CPU than SQLite takes to run the statement (an upsert of 18
participation rows: about 3 parts SQLAlchemy to 1 part SQLite). A `DriverStatement` does
that work once per dialect, with SQLAlchemy's own compiler and each column type's own
bind and result processors, so what it writes and reads is exactly what
`Connection.execute` would write and read. It runs on the connection's DBAPI cursor,
inside the connection's open transaction; a driver error is wrapped as SQLAlchemy wraps
it (`IntegrityError`, `OperationalError`, a lost connection invalidated), so the store's
error handling sees no difference.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Insert
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

On = Connection | Session  # a Session's statements run on its connection, after a flush


@dataclass
class _Compiled:
    sql: str
    given: tuple[str, ...]  # the names of the values given at each call, in SQL order
    constants: tuple[tuple[int, Any], ...]  # (position, value) of values in the statement
    binds: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, processor) where one
    returned: tuple[TypeEngine[Any], ...]  # the type of each column a row has
    take: Callable[[Mapping[str, Any]], Any]  # the values of `given`, from a mapping
    make: Callable[[Sequence[Any]], tuple[Any, ...]]  # a returned row, from its values
    dialect: Dialect
    # Each column's result processor, known once the driver has described the columns
    # (asyncpg's numbers are processed by their type on the wire).
    results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None  # (position, one)

    def values(self, params: Mapping[str, Any]) -> Sequence[Any]:
        given = self.take(params)
        if len(self.given) == 1:
            given = (given,)
        if not self.binds and not self.constants:
            return given
        values = list(given)
        for position, value in self.constants:  # in order of position
            values.insert(position, value)
        for position, process in self.binds:
            values[position] = process(values[position])
        return values

    def rows(self, cursor: Any, raws: Sequence[Sequence[Any]]) -> list[Any]:
        """The rows with each column's value as SQLAlchemy would give it, by position or
        by the column's name."""
        results = self.results
        if results is None:
            processors = [
                column.result_processor(self.dialect, described[1])
                for column, described in zip(self.returned, cursor.description, strict=True)
            ]
            results = self.results = tuple(
                (i, process) for i, process in enumerate(processors) if process is not None
            )
        make = self.make
        if not results:
            return [make(raw) for raw in raws]
        rows = []
        for raw in raws:
            values = list(raw)
            for position, process in results:
                values[position] = process(values[position])
            rows.append(make(values))
        return rows


class DriverStatement:
    """A Core statement (or one built per dialect name), compiled at its first use on
    each dialect. Its bound parameters must be plain `bindparam`s (no expanding IN)."""

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        self._build = statement if callable(statement) else (lambda _name: statement)
        self._by_dialect: dict[tuple[str, tuple[str, ...] | None], _Compiled] = {}
        self._is_insert: dict[str, bool] = {}

    def execute(self, on: On, params: Mapping[str, Any]) -> Any:
        """Run once; the DBAPI cursor, for its `rowcount` or a RETURNING row."""
        connection = _connection(on)
        compiled = self._compiled(connection.dialect, params)
        return _run(connection, compiled, "execute", compiled.values(params))

    def execute_many(self, on: On, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once for each row of values, in one call to the driver."""
        if not rows:
            return
        connection = _connection(on)
        compiled = self._compiled(connection.dialect, rows[0])
        _run(connection, compiled, "executemany", [compiled.values(row) for row in rows])

    def rows(self, on: On, params: Mapping[str, Any]) -> list[Any]:
        """Every row of a query: named tuples of its columns (`row.id`, `row[0]`)."""
        connection = _connection(on)
        compiled = self._compiled(connection.dialect, params)
        cursor = _run(connection, compiled, "execute", compiled.values(params))
        return compiled.rows(cursor, cursor.fetchall())

    def scalar(self, on: On, params: Mapping[str, Any]) -> Any:
        """The first column of the first row (or of a RETURNING row); None if no row."""
        connection = _connection(on)
        compiled = self._compiled(connection.dialect, params)
        cursor = _run(connection, compiled, "execute", compiled.values(params))
        raw = cursor.fetchone()
        return None if raw is None else compiled.rows(cursor, [raw])[0][0]

    def _compiled(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        # An INSERT names the columns it is given (as Connection.execute does), so its
        # compiled form depends on which are given.
        key = (dialect.name, tuple(params) if self._inserts(dialect) else None)
        compiled = self._by_dialect.get(key)
        if compiled is None:
            compiled = _compile(self._build(dialect.name), dialect, key[1], params)
            self._by_dialect[key] = compiled
        return compiled

    def _inserts(self, dialect: Dialect) -> bool:
        inserts = self._is_insert.get(dialect.name)
        if inserts is None:
            inserts = self._is_insert[dialect.name] = isinstance(self._build(dialect.name), Insert)
        return inserts


def _compile(
    statement: ClauseElement,
    dialect: Dialect,
    columns: tuple[str, ...] | None,
    params: Mapping[str, Any],
) -> _Compiled:
    if not dialect.positional:
        raise ValueError(f"{dialect.name}: a DriverStatement needs a positional paramstyle")
    if columns is None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    else:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=list(columns)))
    names = tuple(compiled.positiontup or ())
    if any(compiled.binds[name].expanding for name in names):
        raise ValueError("an expanding IN is rendered per call: bind one value (one_of)")
    constant = {n for n in names if not compiled.binds[n].required and n not in params}
    given = tuple(name for name in names if name not in constant)
    missing = sorted(set(given) - set(params))
    if missing:  # e.g. a column default SQLAlchemy would compute: this runs none
        raise ValueError(f"a DriverStatement is given no value for {missing}")
    constants = tuple(
        (i, compiled.binds[name].effective_value)
        for i, name in enumerate(names)
        if name in constant
    )
    processors = [
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    binds = tuple(
        (i, _remembering(process)) for i, process in enumerate(processors) if process is not None
    )
    # What a query selects, or an INSERT ... RETURNING returns (none for other DML).
    returned = getattr(statement, "exported_columns", ())
    take = itemgetter(*given) if given else (lambda _params: ())
    row_type = namedtuple("Row", [column.key for column in returned], rename=True)  # type: ignore[misc]
    make = row_type._make
    types = tuple(column.type.dialect_impl(dialect) for column in returned)
    return _Compiled(compiled.string, given, constants, binds, types, take, make, dialect)


def _remembering(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process`, which remembers its last date or time: a batch binds the same `now`
    and day to many statements, and formatting a time for SQLite costs 2 µs."""
    last: tuple[Any, Any] = (_NOTHING, None)  # (value, processed), replaced as one

    def run(value: Any) -> Any:
        nonlocal last
        seen, processed = last
        if value is seen:  # the same object again (a day bound to every row of a batch)
            return processed
        if value.__class__ not in _TIMES:
            return process(value)
        if value.__class__ is seen.__class__ and value == seen:
            return processed
        processed = process(value)
        last = (value, processed)
        return processed

    return run


_TIMES = frozenset({date, datetime})
_NOTHING = object()  # no time seen yet (None is a value: JSON's binds it as 'null')


def _connection(on: On) -> Connection:
    if isinstance(on, Connection):
        return on
    on.flush()  # what the ORM holds back is written first, as Session.execute does
    return on.connection()


def _run(connection: Connection, compiled: _Compiled, method: str, values: Any) -> Any:
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None  # a connection in use has its DBAPI connection
    cursor = dbapi_connection.cursor()
    # Listeners of SQLAlchemy's cursor events (tracing, the tests' statement counts) see
    # these statements too; with none, the check costs nothing.
    many = method == "executemany"
    before, after = (
        connection.dispatch.before_cursor_execute,
        connection.dispatch.after_cursor_execute,
    )
    if before:
        before(connection, cursor, compiled.sql, values, None, many)
    try:
        getattr(cursor, method)(compiled.sql, values)
    except connection.dialect.loaded_dbapi.Error as error:
        lost = connection.dialect.is_disconnect(error, dbapi_connection, cursor)
        wrapped = exc.DBAPIError.instance(
            compiled.sql,
            values,
            error,
            connection.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=connection.dialect,
        )
        if lost:
            connection.invalidate(wrapped)
        raise wrapped from error
    if after:
        after(connection, cursor, compiled.sql, values, None, many)
    return cursor
