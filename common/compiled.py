"""A read the API answers many times a second, its SQL compiled once per process and database
connection and run again with other values; its rows converted to Python by converters chosen
once for each column.

Compiling a queryset (resolving its joins, annotations and ordering into SQL) and Django's
general per-value converters (on SQLite: every UUID and time parsed from text) cost several times
what the database took to answer a page of access codes. The query is built once with stand-in
values, the stand-ins are found again among its parameters, and each later run swaps in the
request's values: the SQL is Django's own, never written by hand.
"""

import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model, QuerySet
from django.db.models.sql import InsertQuery
from psycopg.types.datetime import TimestamptzLoader


class CompiledRead:
    """``build(variant, **values)`` returns the queryset (a ``values_list``) for ``values``; the
    fields say how each value is written to the database (its ``get_db_prep_value``). ``variant``
    is anything hashable that changes the SQL itself (a page size, whether a cursor is given);
    each variant is compiled once per connection, and at most ``max_variants`` of them."""

    def __init__(self, build: Callable[..., QuerySet], *, fields: dict[str, Field], max_variants: int = 32):
        self.build = build
        self.fields = fields
        self.max_variants = max_variants
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def rows(self, variant, **values) -> list[tuple]:
        connection = connections[DEFAULT_DB_ALIAS]
        compiled = self._compiled.setdefault(connection, {})
        entry = compiled.get(variant)
        if entry is None:
            entry = self._compile(connection, variant, names=list(values))
            if len(compiled) < self.max_variants:
                compiled[variant] = entry
        sql, params, positions, converters = entry
        bound = list(params)
        for name, at in positions.items():
            value = self.fields[name].get_db_prep_value(values[name], connection)
            for position in at:
                bound[position] = value
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                _load_times_in_c(cursor.cursor)
            cursor.execute(sql, bound)
            rows = cursor.fetchall()
        if not converters or not rows:
            return rows
        # Column by column, each distinct value converted once (a lock's page shares its lock,
        # workspace and flags); the loops over rows run in C (zip, map).
        columns = list(zip(*rows, strict=True))
        for index, convert, shared in converters:
            column = columns[index]
            if shared:
                converted = {value: convert(value) for value in set(column)}
                columns[index] = list(map(converted.__getitem__, column))
            else:
                columns[index] = list(map(convert, column))
        return list(zip(*columns, strict=True))

    def _compile(self, connection, variant, *, names):
        # Stand-ins no request sends: ids 1, 2, ... and instants in 1901, one a second.
        samples = {}
        for n, name in enumerate(names, start=1):
            internal = self.fields[name].get_internal_type()
            if internal == "UUIDField":
                samples[name] = uuid.UUID(int=n)
            elif internal == "DateTimeField":
                samples[name] = datetime(1901, 1, 1, 0, 0, n, 123457, tzinfo=UTC)
            else:
                raise TypeError(f"no stand-in for a {internal} ({name})")
        query = self.build(variant, **samples).query
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        positions = {}
        for name, sample in samples.items():
            prepped = self.fields[name].get_db_prep_value(sample, connection)
            positions[name] = [n for n, value in enumerate(params) if value == prepped]
            if not positions[name]:
                raise RuntimeError(f"the compiled read's parameters do not hold {name}")
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        django_converters = compiler.get_converters(columns)
        converters = [
            (
                index,
                column_converter(expression, converters, connection),
                # Values read as immutable objects may be shared between rows; JSON's may not.
                expression.output_field.get_internal_type() != "JSONField",
            )
            for index, (converters, expression) in sorted(django_converters.items())
        ]
        return sql, tuple(params), positions, converters


class CompiledInsert:
    """Inserting one row of ``model``, every column given: Django's own INSERT, built once per
    connection, its values prepared by each field as ``Model.save`` prepares them. For a model
    whose primary key is not generated by the database (nothing to read back) and that no
    ``pre_save``/``post_save`` receiver listens to: those are not sent."""

    def __init__(self, model: type[Model]):
        if model._meta.pk.db_returning:
            raise TypeError(f"{model.__name__}'s primary key is generated by the database")
        self.model = model
        self.fields = [field for field in model._meta.local_concrete_fields if not field.generated]
        self._sql: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def insert(self, obj: Model) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        sql = self._sql.get(connection)
        if sql is None:
            query = InsertQuery(self.model)
            query.insert_values(self.fields, [obj])
            [(sql, _params)] = query.get_compiler(connection=connection).as_sql()
            self._sql[connection] = sql
        values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in self.fields]
        cursor = (
            _server_bound_cursor(connection) if connection.vendor == "postgresql" else connection.cursor()
        )
        with cursor:
            cursor.execute(sql, values)
        obj._state.adding = False
        obj._state.db = DEFAULT_DB_ALIAS


def _server_bound_cursor(connection):
    """A cursor whose values PostgreSQL binds itself (psycopg's ``Cursor``), wrapped as Django
    wraps its own, so execute wrappers, query logging and error translation still apply. Django's
    cursors bind on the client, quoting every value into the SQL text in Python: for the callback
    insert's seventeen columns, 0.05-0.08 ms of the about 1 ms a callback costs this process
    (bench/webhooks.py stores about 5% more a second with the server binding them). Only for an
    INSERT written by Django, whose every value goes to a column PostgreSQL takes its type from."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def column_converter(expression, django_converters, connection) -> Callable:
    """One function turning a column's database value into Python as Django's converters do, a
    faster one for the column types the API reads most, Django's own for the rest."""
    internal = expression.output_field.get_internal_type()
    if connection.vendor == "sqlite":
        if internal == "UUIDField":
            return _uuid_from_hex
        if internal == "DateTimeField" and connection.timezone == UTC:
            return _utc_from_text
        if internal == "BooleanField":
            return _bool_from_int
    if internal == "JSONField" and getattr(expression.output_field, "decoder", None) is None:
        general = _django(django_converters, expression, connection)

        def json_value(value):
            if value is None:
                return None
            try:
                return orjson.loads(value)
            except (orjson.JSONDecodeError, TypeError):
                return general(value)  # what orjson refuses (NaN, huge integers) json reads

        return json_value
    return _django(django_converters, expression, connection)


def _django(django_converters, expression, connection) -> Callable:
    def convert(value):
        for converter in django_converters:
            value = converter(value, expression, connection)
        return value

    return convert


_new_uuid = object.__new__
_set = object.__setattr__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def _uuid_from_hex(value):
    """SQLite keeps a UUID as 32 hex digits; building the UUID from its integer is what
    ``uuid.UUID(hex)`` does after checking the text, which costs more than the rest."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 32 and value.isalnum():
        made = _new_uuid(uuid.UUID)
        _set(made, "int", int(value, 16))
        _set(made, "is_safe", _SAFE_UNKNOWN)
        return made
    return uuid.UUID(value)


def _utc_from_text(value):
    """SQLite keeps an instant as UTC text without a zone (Django's ``TIME_ZONE`` on the
    connection is UTC here)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _load_times_in_c(cursor) -> None:
    """On this cursor only, instants are read by psycopg's own loader (in C, with psycopg's
    binary package), not by the Python subclass Django registers on each connection to set their
    zone: that parsed every time of a page in Python, the largest part of reading it. psycopg's
    gives each instant in the session's zone, which Django keeps at UTC (its own loader relies on
    that too, and only relabels the zone)."""
    cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


def _bool_from_int(value):
    return bool(value) if value in (1, 0) else value
