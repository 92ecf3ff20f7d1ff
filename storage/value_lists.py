"""A list of values bound as one parameter, so that a statement stays the same whatever
the list's length: PostgreSQL binds an array (`= ANY`), SQLite a JSON list (`IN
json_each`). An expanding `IN` is rendered anew at every execution, which on the batch
writer's path cost more than running the statement."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeEngine


def one_of(
    attribute: ColumnElement[Any] | QueryableAttribute[Any], name: str, backend: str
) -> ColumnElement[bool]:
    """The column is one of the values bound as `name` (see `values_of`)."""
    column = attribute.expression if isinstance(attribute, QueryableAttribute) else attribute
    if backend == "postgresql":
        item: TypeEngine[Any] = column.type
        return column == any_(bindparam(name, type_=ARRAY(item)))
    listed = func.json_each(bindparam(name)).table_valued("value")
    return column.in_(select(listed.c.value))


def values_of(values: Iterable[Any], backend: str) -> object:
    """The parameter value for `one_of`."""
    given = list(values)
    return given if backend == "postgresql" else json.dumps(given)
