"""Model rows read and written with SQL built once per model: the per-follower hot path.

The execution task runs once per follower per leader trade. Profiled in-process
(bench/RESULTS.md), Django spent more CPU compiling its queries than PostgreSQL spent
running them: ~0.3 ms per simple statement, ~3 ms for the five-table load. The SQL here
is generated from the models' own metadata (a new column needs no edit here) and cached;
rows come back as model instances through the fields' own converters (encrypted fields
decrypt, JSON parses) and values go out through the fields' own `pre_save` and
`get_db_prep_save` (auto_now, decimal rounding), so the values are the ORM's.
"""

import datetime
import decimal
import functools
import hashlib
import threading
import weakref

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import DEFERRED, Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

# Names are quoted once: `connection` is a proxy that looks the thread's connection up on
# every attribute read (an asgiref Local), which the per-follower path paid per column.


@functools.cache
def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def column(model: type[Model], name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _concrete(model: type[Model], names: tuple[str, ...] | None) -> list:
    """The concrete fields named (field names, in the model's order), or all of them."""
    fields = model._meta.concrete_fields
    if names is None:
        return list(fields)
    unknown = set(names) - {field.name for field in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no concrete fields {sorted(unknown)}")
    return [field for field in fields if field.name in names]


def unindexed(condition: str) -> str:
    """`condition` (on a status, in a statement that finds its rows by another index: the
    primary key, the fan-out's places) written so that PostgreSQL cannot use it to pick an
    index: `(condition) IS TRUE`, the same test.

    The copied trades' partial index of open rows (`copied_trade_open_by_copy`, status pending
    or executing) looks empty to the planner whenever the table was last analysed between
    fan-outs, which is nearly always; a statement saying `id = X AND status = 'pending'`
    qualifies for it, and PostgreSQL chose it over the primary key at the same estimated cost,
    then read every open row's entry to find one id. During a fan-out of N followers each
    pick-up read up to N entries: bench/RESULTS.md measured 900 to 1,800 index entries read per
    scan at 3,000 to 10,000 followers, PostgreSQL's CPU per order rising with N. A condition
    under IS TRUE implies nothing the planner can match with the index's predicate, so the
    primary key is the only way in. (Prepared statements' generic plans cannot use the index
    either, their status being a parameter; these are written so whatever plans them.)"""
    return f"({condition}) IS TRUE"


@functools.cache
def select_list(model: type[Model], alias: str, names: tuple[str, ...] | None = None) -> str:
    """`alias."col", ...` for every concrete field (or those `names`), in `instance()` order."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in _concrete(model, names))


@functools.cache
def width(model: type[Model], names: tuple[str, ...] | None = None) -> int:
    return len(_concrete(model, names))


@functools.cache
def _attnames(model: type[Model], names: tuple[str, ...] | None = None) -> list[str]:
    return [field.attname for field in _concrete(model, names)]


@functools.cache
def _converted(model: type[Model], names: tuple[str, ...] | None = None) -> list[tuple[int, object, list]]:
    """(index, column expression, converters) of the fields whose database values need
    converting (the converters depend only on the field and the backend: found once)."""
    found = []
    db = connections[DEFAULT_DB_ALIAS]
    for index, field in enumerate(_concrete(model, names)):
        col = field.get_col(model._meta.db_table)
        converters = db.ops.get_db_converters(col) + col.get_db_converters(db)
        if converters:
            found.append((index, col, converters))
    return found


def _convert(model: type[Model], values, names: tuple[str, ...] | None = None) -> list:
    values = list(values)
    converted = _converted(model, names)
    if converted:
        db = connections[DEFAULT_DB_ALIAS]
        for index, col, converters in converted:
            for converter in converters:
                values[index] = converter(values[index], col, db)
    return values


def instance(model: type[Model], values, names: tuple[str, ...] | None = None):
    """A model instance from the values of `select_list(model, ..., names)`, as the ORM's
    `Model.from_db` builds it; with `names`, the other fields are deferred: reading one costs
    a query, so a caller selects every field its path reads.

    Built as `from_db` leaves it (values in the instance's dict, state not adding, the
    database's alias) without `Model.__init__`'s walk over every field and its argument
    handling: that was half the load's CPU. A model with pre_init/post_init receivers (none
    here today) goes through `from_db` itself, so they still run."""
    attnames, values = _attnames(model, names), _convert(model, values, names)
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(DEFAULT_DB_ALIAS, attnames, values)
    obj = model.__new__(model)
    state = obj._state = ModelState()
    state.adding, state.db = False, DEFAULT_DB_ALIAS
    obj.__dict__.update(zip(attnames, values))
    return obj


def refresh(obj: Model, values) -> None:
    """Overwrite every concrete field of `obj` with the values of `select_list` (a RETURNING)."""
    for attname, value in zip(_attnames(type(obj)), _convert(type(obj), values)):
        setattr(obj, attname, value)


# --- prepared statements ---------------------------------------------------------------
# PostgreSQL parses and plans every statement it is sent as text. For the five-table load of
# an execution that was 0.6 ms of the database's CPU, five times what running it costs (0.1
# ms): more than all else the database did per follower. The hot path's statements are
# therefore prepared once per database connection (PREPARE) and then only executed
# (EXECUTE). Prepared statements outlive transactions and end with their connection; a
# transaction-pooling proxy in front of PostgreSQL (PgBouncer in transaction mode) does
# not keep them, so DATABASE_PREPARED_STATEMENTS=false turns this off.

_prepared_on: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()
_prepared_lock = threading.Lock()


@functools.lru_cache(maxsize=256)
def _preparable(sql: str) -> tuple[str, str, str]:
    """(statement name, PREPARE text, EXECUTE text with %s for the values) of `sql` (%s placeholders)."""
    pieces = sql.split("%s")
    if any("%" in piece for piece in pieces):
        raise ValueError("a prepared statement's SQL may hold no % but its %s placeholders")
    name = "ct_" + hashlib.sha1(sql.encode()).hexdigest()[:20]
    numbered = pieces[0] + "".join(f"${index}{piece}" for index, piece in enumerate(pieces[1:], start=1))
    arguments = f" ({', '.join(['%s'] * (len(pieces) - 1))})" if len(pieces) > 1 else ""
    return name, f"PREPARE {name} AS {numbered}", f"EXECUTE {name}{arguments}"


def execute(cursor, sql: str, params) -> None:
    """`cursor.execute(sql, params)`, as a statement prepared once on this connection."""
    if not settings.DATABASE_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    name, prepare, run = _preparable(sql)
    raw = cursor.connection  # the driver's connection: a reconnect starts with none prepared
    with _prepared_lock:
        names = _prepared_on.setdefault(raw, set())
        ready = name in names
    if not ready:
        # On the driver's cursor: connection setup, like Django's own, not a query of the caller's.
        cursor.cursor.execute(prepare)
        with _prepared_lock:
            names.add(name)
    cursor.execute(run, params)


def fetch_one(model: type[Model], where: str, params: list):
    """The one row of `model` matching the SQL condition `where` (alias `t`), or None."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select_list(model, 't')} FROM {table(model)} t WHERE {where}", params)
        row = cursor.fetchone()
    return instance(model, row) if row else None


def _as_is(field) -> tuple[type, object] | None:
    """(type, check) of the values this field writes unchanged, or None. On PostgreSQL a
    plain DecimalField's `pre_save` and `get_db_prep_save` return a finite Decimal as it is
    (`to_python` makes a Decimal of it; the adapter passes it on), a DateTimeField without
    auto_now an aware datetime, a CharField or TextField a str, an IntegerField an int. The
    hot path's writes are mostly these: their preparation was most of the fill's write.
    Exact types only (a subclass, a choices enum, bool, goes the ORM's way)."""
    kind = type(field)
    if connection.vendor != "postgresql":
        return None
    if kind is models.DecimalField:
        return decimal.Decimal, decimal.Decimal.is_finite
    if kind is models.DateTimeField and not (field.auto_now or field.auto_now_add):
        return datetime.datetime, lambda value: value.tzinfo is not None
    if kind in (models.CharField, models.TextField):
        return str, None
    if kind in (models.IntegerField, models.BigIntegerField, models.PositiveIntegerField, models.SmallIntegerField):
        return int, None
    return None


@functools.cache
def _fields(model: type[Model], names: tuple[str, ...]) -> tuple[list, list[str], list]:
    """(the fields, their quoted columns, what each writes as it is: `_as_is`) of `names`."""
    fields = [model._meta.get_field(name) for name in names]
    return fields, [connection.ops.quote_name(field.column) for field in fields], [_as_is(field) for field in fields]


def _prepared(obj: Model, names, *, add: bool) -> tuple[list[str], list]:
    fields, columns, as_is = _fields(type(obj), tuple(names))
    db = connections[DEFAULT_DB_ALIAS]
    values = []
    for field, plain in zip(fields, as_is):
        if plain is not None:
            value = obj.__dict__.get(field.attname, DEFERRED)
            kind, check = plain
            if type(value) is kind and (check is None or check(value)):
                values.append(value)
                continue
        values.append(field.get_db_prep_save(field.pre_save(obj, add), connection=db))
    return columns, values


def update_statement(obj: Model, fields: list[str], *, where: str = "", params: list = ()) -> tuple[str, list]:
    """(SQL, params) of an UPDATE of `obj`'s row (by primary key, and `where` with its
    `params` when given: a compare-and-set) with these fields."""
    columns, values = _prepared(obj, fields, add=False)
    assignments = ", ".join(f"{name} = %s" for name in columns)
    condition = f" AND ({where})" if where else ""
    sql = f"UPDATE {table(type(obj))} SET {assignments} WHERE {column(type(obj), 'id')} = %s{condition}"
    return sql, [*values, obj.pk, *params]


def insert_parts(obj: Model) -> tuple[list[str], list]:
    """(quoted columns, values) of an INSERT of `obj` (every concrete field but the primary key)."""
    return _prepared(obj, [field.name for field in obj._meta.concrete_fields if not field.primary_key], add=True)


def insert_statement(obj: Model) -> tuple[str, list]:
    """(SQL, params) of an INSERT of `obj` (every concrete field but the primary key)."""
    columns, values = insert_parts(obj)
    return f"INSERT INTO {table(type(obj))} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(values))})", values


def update(obj: Model, fields: list[str], *, where: str = "", params: list = ()) -> int:
    """UPDATE the row of `obj` (see `update_statement`); the rows changed (0 or 1)."""
    sql, params = update_statement(obj, fields, where=where, params=params)
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        return cursor.rowcount


class FencedWriteLost(RuntimeError):
    """A write that had to change exactly one row changed none (or several): the row it was
    fenced on is not in the state the caller locked it in. The transaction must roll back."""


def save(obj: Model, fields: list[str] | None = None, *, along_with: list[tuple[str, list]] = ()) -> None:
    """Insert a new instance (setting its primary key), else update `fields` (all but the
    primary key when None). `along_with`: UPDATE statements (`update_statement`) run in the
    same statement, as data-modifying WITH clauses: one round trip to PostgreSQL for all.
    Each of them, and the update of `obj`, must change exactly one row, else FencedWriteLost."""
    if obj._state.adding or obj.pk is None:
        sql, params = insert_statement(obj)
    else:
        sql, params = update_statement(obj, fields or [field.name for field in obj._meta.concrete_fields if not field.primary_key])
    sql += f" RETURNING {column(type(obj), 'id')}"
    if along_with:
        sql += "".join(f", (SELECT count(*) FROM along_{index})" for index in range(len(along_with)))
        sql = (
            "WITH "
            + ", ".join(f"along_{index} AS ({statement} RETURNING 1)" for index, (statement, _) in enumerate(along_with))
            + " "
            + sql
        )
        params = [param for _, statement_params in along_with for param in statement_params] + params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    if len(returned) != 1 or any(count != 1 for count in returned[0][1:]):
        raise FencedWriteLost(f"{type(obj).__name__} {obj.pk}: expected one row per write, got {returned}")
    obj.pk = returned[0][0]
    obj._state.adding = False
