"""Inserting many rows with one statement per table.

The accept path writes up to 5,000 message rows per group commit. SQLAlchemy's ``executemany``
spends about 70 µs of Python per row on parameter processing, and the stdlib sqlite3 driver's
``executemany`` runs one step per row, each of which gives the GIL up and must win it back. So rows
go to the database in one statement per table, through the driver:

- SQLite: ``INSERT ... VALUES (?, ...), (?, ...)``, bound in C, up to 1,000 rows a statement. Each
  number of rows is a statement text of its own, which SQLite must compile unless the driver's
  statement cache holds it; so counts up to ``SQLITE_EXACT_ROWS`` get their own statement, larger
  ones are written as powers of two and a rest (at most ~70 texts a table, all kept in the cache
  that ``qasid.db`` sizes for them: ``SQLITE_STATEMENT_CACHE``). Compiling a 20-row insert took
  as long as running it;
- PostgreSQL: ``INSERT ... SELECT (e->>0)::type, ... FROM jsonb_array_elements(%s)``: the rows go as
  one JSON document, encoded by msgspec in C and parsed by PostgreSQL in C, and the statement text
  is the same whatever the number of rows. (psycopg parses the placeholders of a long VALUES
  statement in Python on every call, and dumps list parameters as arrays in Python: both cost more
  than the rest of the request.)

Values are given in the table's column order (or ``columns``) and converted with the column types'
own bind processors, so a datetime is stored exactly as SQLAlchemy would store it; conversions are
memoized per call because a batch repeats the same timestamps.

Our own statements run on the driver's cursor (``execute``), inside the connection's transaction:
``Connection.exec_driver_sql`` spent 4 µs of Python on a statement that returns nothing and 12 µs
more than the driver on one that returns a row, and a group commit runs a dozen of them.

Statements that return nothing go through ``write``. In a transaction that defers them (the
group-commit writer's, on PostgreSQL: ``deferring``) they wait, in order, and are sent together in
one pipeline just before the next statement that is not deferred, and before the commit: a read
of ours (``execute``) goes in that same pipeline, after them, and so does the BEGIN when the read
is the transaction's first statement; SQLAlchemy's statements get a ``flush`` of their own before
them. The database runs everything in the order written, so each statement still sees all the
writes before it; what changes is that a dozen inserts and the read after them cost one round
trip, and the writer thread one wait to win the interpreter back, instead of a dozen
(docs/performance.md). A deferred statement's error is raised by the pipeline it went in, inside
the same transaction.

Reads that do not wait on each other's answers can share a round trip too: a ``Query`` is a read
built ahead of its answer, and ``fetch`` sends several, after the writes waiting, in one pipeline.
The group-commit writer does that for the reads its ops plan (``qasid.db.writer.WriteOp.plan``):
a verification's check and create read what they need (five queries) in one round trip, with the
transaction's BEGIN, where each read had been a round trip of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import chain
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Column, Connection, Dialect, Select, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from qasid.models import UTCDateTime

T = TypeVar("T")
U = TypeVar("U")
_json = msgspec.json.Encoder()
SQLITE_MAX_PARAMETERS = 32_766
SQLITE_MAX_ROWS = 1_000
SQLITE_EXACT_ROWS = 64
SQLITE_STATEMENT_CACHE = 1024  # statements a SQLite connection keeps compiled (the driver's default: 128)
_DEFERRED = "qasid_deferred_writes"  # in conn.info: (sql, params) waiting for ``flush``
_LAST = "qasid_last_writes"  # in conn.info: (sql, params) held for the end of ``deferring``
_TALLIES = "qasid_tallies"  # in conn.info: counter column -> key -> what ``tally`` adds at the end
_IDLE = 0  # psycopg's TransactionStatus.IDLE: no transaction begun on the server yet


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]:
    """Run ``sql`` (our own text, the driver's parameter marks) on ``conn``'s driver cursor, in its
    transaction; the rows it returns as the driver gives them, or none. A driver error is raised as
    SQLAlchemy raises it (``OperationalError`` and so on, the driver's own as ``orig``), so callers
    handle both paths alike."""
    driver: Any = conn.connection.dbapi_connection  # open: in a transaction
    queue = conn.info.get(_DEFERRED)
    if queue or (queue is not None and driver.info.transaction_status == _IDLE):
        # In a transaction that defers: the writes waiting, then this, in one round trip (and, as
        # the transaction's first statement, with the BEGIN that psycopg otherwise sends alone).
        pending = list(queue)
        queue.clear()
        return _send(conn, driver, pending, [(sql, params)])[0]
    cursor = driver.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


@dataclass(frozen=True, slots=True)
class Query(Generic[T]):
    """A read built ahead of its answer, so that several can go to the database together
    (``fetch``): our own ``sql`` and its ``params``, and ``parse``, which makes the driver's rows
    the answer. Without ``sql`` the answer is known without asking (``Query.known``)."""

    sql: str | None
    params: Sequence[Any]
    parse: Callable[[Sequence[Any]], T]

    @classmethod
    def known(cls, answer: T) -> Query[T]:
        return cls(None, (), lambda _rows: answer)

    def run(self, conn: Connection) -> T:
        """Its answer alone (``fetch`` of one)."""
        answer: T = fetch(conn, [self])[0]
        return answer

    def then(self, shape: Callable[[T], U]) -> Query[U]:
        """The same read, its answer passed through ``shape``."""
        parse = self.parse
        return Query(self.sql, self.params, lambda rows: shape(parse(rows)))


def fetch(conn: Connection, queries: Sequence[Query[Any]]) -> list[Any]:
    """The answers of ``queries``, in order, as one round trip where it can be: in a transaction
    that defers (PostgreSQL's group commits), the writes waiting and then every query go in one
    pipeline, with the BEGIN when they are the transaction's first statements. So a transaction's
    independent reads cost the writer thread one wait for the interpreter instead of one each."""
    asked = [(query.sql, query.params) for query in queries if query.sql is not None]
    driver: Any = conn.connection.dbapi_connection
    queue = conn.info.get(_DEFERRED)
    if queue is not None and len(asked) > 1:
        pending = list(queue)
        queue.clear()
        answers = iter(_send(conn, driver, pending, asked))
    else:
        answers = iter([execute(conn, sql, params) for sql, params in asked])
    return [query.parse(next(answers) if query.sql is not None else ()) for query in queries]


def _send(
    conn: Connection,
    driver: Any,
    writes: list[tuple[str, Sequence[Any]]],
    reads: list[tuple[str, Sequence[Any]]],
) -> list[Sequence[Any]]:
    """``writes``, then ``reads``, in one psycopg pipeline; the rows of each read. The first error
    among them is raised as ``execute`` raises it."""
    cursor, readers = driver.cursor(), [driver.cursor() for _ in reads]
    try:
        with driver.pipeline():
            for sql, params in writes:
                cursor.execute(sql, params)
            for reader, (sql, params) in zip(readers, reads, strict=True):
                reader.execute(sql, params)
        return [reader.fetchall() if reader.description is not None else [] for reader in readers]
    except conn.dialect.loaded_dbapi.Error as exc:
        text = "; ".join(sql for sql, _ in chain(writes, reads))
        raise DBAPIError.instance(text, None, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        for each in (cursor, *readers):
            each.close()


def write(conn: Connection, sql: str, params: Sequence[Any] = (), *, last: bool = False) -> None:
    """Run ``sql``, which returns nothing, as ``execute`` does; or, in a transaction that defers
    (``deferring``), queue it for the next ``flush`` (see the module doc).

    ``last``: in a transaction that defers, hold it back until the block ends, then send it after
    every other write, in the pipeline just before the commit. For an update of a row that other
    transactions queue for (an account's balance), when nothing later in the transaction needs its
    effect: the row lock it takes is then held for the commit alone. Inside a savepoint, which may
    be rolled back on its own, it is an ordinary deferred write."""
    queue = conn.info.get(_DEFERRED)
    if queue is None:
        execute(conn, sql, params)
    elif last and not conn.in_nested_transaction():
        conn.info[_LAST].append((sql, params))
    else:
        queue.append((sql, params))


@contextmanager
def deferring(conn: Connection) -> Iterator[None]:
    """Within the block, ``write`` queues on ``conn`` (PostgreSQL only: SQLite has no round trips to
    save) and ``tally`` sums its counts (both databases); the queue, after it the writes held back
    as ``last`` and after them the counts, is flushed when the block ends, and dropped unsent if it
    raises. Put it inside the transaction's block, so the flush comes before the commit."""
    info = conn.info  # kept: after a failure the connection may be invalidated
    info[_TALLIES] = {}
    try:
        if conn.dialect.name != "postgresql":
            yield
            _write_tallies(conn, info.pop(_TALLIES))
            return
        info[_DEFERRED], info[_LAST] = [], []
        yield
        info[_DEFERRED].extend(info[_LAST])
        _write_tallies(conn, info.pop(_TALLIES))
        flush(conn)
    finally:
        info.pop(_TALLIES, None)
        info.pop(_DEFERRED, None)
        info.pop(_LAST, None)


def tally(conn: Connection, count: Column[Any], changes: Mapping[str, int]) -> None:
    """Add ``changes`` (key: how much) to the counter column ``count``, in rows found by their
    table's primary key (one text column) and made as needed.

    In a block of ``deferring`` they are summed over the block and written when it ends, by one
    statement after every other write, keys in order: every transaction then takes the row locks of
    its counters last and in the same order, so no two can wait for each other through them, and
    nothing waits behind a counter's lock for longer than its transaction's commit. Until then
    ``untallied`` says what is waiting. Outside such a block, or inside a savepoint (which may be
    rolled back on its own), at once."""
    waiting = conn.info.get(_TALLIES)
    if waiting is None or conn.in_nested_transaction():
        _write_tallies(conn, {count: dict(changes)})
        return
    sums = waiting.setdefault(count, {})
    for key, change in changes.items():
        sums[key] = sums.get(key, 0) + change


def untallied(conn: Connection, count: Column[Any], key: str) -> int:
    """What ``tally`` has waiting for ``key``'s ``count`` in this block of ``deferring``."""
    waiting = conn.info.get(_TALLIES)
    return 0 if waiting is None else int(waiting.get(count, {}).get(key, 0))


def _write_tallies(conn: Connection, waiting: dict[Column[Any], dict[str, int]]) -> None:
    for count, sums in waiting.items():
        rows = sorted((key, change) for key, change in sums.items() if change)
        if rows:
            write(conn, _tally_sql(count, conn.dialect), (_json.encode(rows).decode(),))


@cache
def _tally_sql(count: Column[Any], dialect: Dialect) -> str:
    table = count.table
    (key,) = table.primary_key.columns
    # Only our own table and column names are formatted in; every value is a bound parameter.
    if dialect.name == "postgresql":
        rows = "SELECT e->>0, (e->>1)::bigint FROM jsonb_array_elements(%s::jsonb) AS e ORDER BY 1"
    else:  # SQLite: WHERE true tells its parser the ON CONFLICT is the upsert's
        rows = "SELECT value->>0, value->>1 FROM json_each(?) WHERE true ORDER BY 1"
    name, column = table.name, count.name
    return (
        f"INSERT INTO {name} ({key.name}, {column}) {rows} "
        f"ON CONFLICT ({key.name}) DO UPDATE SET {column} = {name}.{column} + excluded.{column}"
    )


def flush(conn: Connection) -> None:
    """Send the queued statements in order, in one pipeline, and raise the first error among them."""
    queue = conn.info.get(_DEFERRED)
    if not queue:
        return
    pending = list(queue)
    queue.clear()
    _send(conn, conn.connection.dbapi_connection, pending, [])


@dataclass(frozen=True)
class _Plan:
    sql: str  # PostgreSQL: the whole statement; SQLite: the head, before the VALUES rows
    placeholder_row: str
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    rows_per_statement: int

    @cache  # noqa: B019 - plans are few (one per table, columns and dialect) and live with the process
    def values_sql(self, rows: int) -> str:
        return self.sql + ", ".join([self.placeholder_row] * rows)


@cache
def _plan(table: Table, dialect: Dialect, names: tuple[str, ...] | None) -> _Plan:
    columns = list(table.columns) if names is None else [table.c[name] for name in names]
    # Only our own table and column names are formatted in; every value is a bound parameter.
    head = f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
    processors = tuple(
        (index, processor)
        for index, column in enumerate(columns)
        if (processor := column.type.bind_processor(dialect)) is not None
    )
    if dialect.name == "postgresql":
        fields = ", ".join(f"(e->>{i})::{column.type.compile(dialect)}" for i, column in enumerate(columns))
        sql = f"{head}SELECT {fields} FROM jsonb_array_elements(%s::jsonb) AS e"  # noqa: S608 - see above
        return _Plan(sql, "", processors, 0)
    return _Plan(
        head + "VALUES ",
        "(" + ", ".join(["?"] * len(columns)) + ")",
        processors,
        min(SQLITE_MAX_ROWS, SQLITE_MAX_PARAMETERS // len(columns)),
    )


def bulk_insert(
    conn: Connection, table: Table, rows: Sequence[Sequence[Any]], columns: tuple[str, ...] | None = None
) -> None:
    """Insert ``rows`` with as few statements as possible. Each row holds the values of ``columns``
    (default: all of ``table``'s, in order); leave out columns the database fills in."""
    if not rows:
        return
    plan = _plan(table, conn.dialect, columns)
    if plan.processors:
        rows = _processed(rows, plan.processors)
    if not plan.rows_per_statement:  # PostgreSQL: one JSON document
        write(conn, plan.sql, (_json.encode(rows).decode(),))
        return
    start = 0
    for size in statement_sizes(len(rows), plan.rows_per_statement):
        chunk = rows[start : start + size]
        write(conn, plan.values_sql(size), tuple(chain.from_iterable(chunk)))
        start += size


def bulk_insert_with(
    conn: Connection, table: Table, rows: Sequence[Sequence[Any]], columns: tuple[str, ...], tail: str
) -> Sequence[Any]:
    """``bulk_insert`` with ``tail`` after the rows (an ``ON CONFLICT`` clause, a ``RETURNING``
    list: our own SQL, written for both databases); the rows ``RETURNING`` gave, if any."""
    if not rows:
        return []
    plan = _plan(table, conn.dialect, columns)
    if plan.processors:
        rows = _processed(rows, plan.processors)
    if not plan.rows_per_statement:  # PostgreSQL: one JSON document
        return execute(conn, f"{plan.sql} {tail}", (_json.encode(rows).decode(),))
    found: list[Any] = []
    start = 0
    for size in statement_sizes(len(rows), plan.rows_per_statement):
        chunk = rows[start : start + size]
        found += execute(conn, f"{plan.values_sql(size)} {tail}", tuple(chain.from_iterable(chunk)))
        start += size
    return found


def statement_sizes(rows: int, most: int) -> list[int]:
    """How many rows each SQLite insert statement of ``rows`` takes: full statements of ``most``,
    then the rest as one statement when it is at most ``SQLITE_EXACT_ROWS``, else as powers of two
    and such a rest. So a table has few distinct statement texts, and each stays compiled."""
    sizes = [most] * (rows // most)
    rest = rows % most
    while rest > SQLITE_EXACT_ROWS:
        power = 1 << (rest.bit_length() - 1)
        sizes.append(power)
        rest -= power
    return [*sizes, rest] if rest else sizes


def _processed(
    rows: Sequence[Sequence[Any]], processors: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> list[list[Any]]:
    memo: dict[int, Any] = {}
    out = []
    for row in rows:
        values = list(row)
        for index, process in processors:
            value = values[index]
            if value is not None:
                key = id(value)
                if key not in memo:
                    memo[key] = process(value)
                values[index] = memo[key]
        out.append(values)
    return out


@cache
def _update_sql(
    table: Table,
    dialect: Dialect,
    keys: tuple[str, ...],
    names: tuple[str, ...],
    *,
    where: str,
    returning: bool,
) -> str:
    columns = [*(table.c[key] for key in keys), *(table.c[name] for name in names)]
    if dialect.name == "postgresql":
        value = [f"(e->>{i})::{column.type.compile(dialect)}" for i, column in enumerate(columns)]
        source = PG_GIVEN_ROWS
    else:
        value = [f"e.value->>{i}" for i in range(len(columns))]
        source = "json_each(?) AS e"
    sets = ", ".join(f"{name} = {value[len(keys) + i]}" for i, name in enumerate(names))
    matches = [f"{table.name}.{key} = {value[i]}" for i, key in enumerate(keys)]
    condition = " AND ".join(matches) + (f" AND ({where})" if where else "")
    tail = f" RETURNING {table.name}.{keys[0]}" if returning else ""
    return f"UPDATE {table.name} SET {sets} FROM {source} WHERE {condition}{tail}"  # noqa: S608 - our names only


def bulk_update(
    conn: Connection,
    table: Table,
    key: str | tuple[str, ...],
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    *,
    where: str = "",
    returning: bool = False,
) -> list[Any]:
    """Set ``columns`` on the rows whose ``key`` (one column or several) matches: each row is
    (*key values, *column values). ``where`` (a fixed SQL condition on ``table``) keeps the rows it
    rejects as they are. One statement; with ``returning``, the (first) key of each row that
    changed. Only when asked: on SQLite each returned row is a step of its own, and every step gives
    the interpreter up and waits to win it back while the write lock is held (docs/performance.md)."""
    if not rows:
        return []
    keys = (key,) if isinstance(key, str) else key
    plan = _plan(table, conn.dialect, (*keys, *columns))
    if plan.processors:
        rows = _processed(rows, plan.processors)
    sql = _update_sql(table, conn.dialect, keys, columns, where=where, returning=returning)
    if not returning:
        write(conn, sql, given(conn.dialect, rows))
        return []
    return [row[0] for row in execute(conn, sql, given(conn.dialect, rows))]


@cache
def _read_plan(
    source: Table | Select[Any], dialect: Dialect, names: tuple[str, ...] | None
) -> tuple[str, tuple[str, ...], tuple[tuple[int, Callable[[Any], Any]], ...]]:
    if isinstance(source, Select):
        # A fixed view (columns and joins, no WHERE): its text compiled once, as Core would send it.
        compiled = source.compile(dialect=dialect)
        if compiled.params or source.whereclause is not None or names is not None:
            raise ValueError("rows_query takes a view without parameters, WHERE or names")
        head = str(compiled)
        keys = tuple(str(column.key) for column in source.selected_columns)
        types = [column.type for column in source.selected_columns]
    else:
        columns = list(source.columns) if names is None else [source.c[name] for name in names]
        head = f"SELECT {', '.join(f'{source.name}.{c.name}' for c in columns)} FROM {source.name}"  # noqa: S608
        keys = tuple(c.name for c in columns)
        types = [column.type for column in columns]
    if len(set(keys)) != len(keys):
        raise ValueError(f"two columns of one name in {keys}")
    return head, keys, result_processors(dialect, types)


def rows_query(
    conn: Connection,
    source: Table | Select[Any],
    condition: str,
    params: Sequence[Any],
    *,
    names: tuple[str, ...] | None = None,
    tail: str = "",
) -> Query[list[dict[str, Any]]]:
    """Rows of ``source`` (a table, its ``names`` columns or all; or a fixed Core select of columns
    and joins) where ``condition`` holds, as dicts keyed as Core would key them: a ``Query``, to
    ``run`` alone or ``fetch`` with others. ``condition`` and ``tail`` (``FOR UPDATE``, say) are our
    own fixed SQL, run through the driver; values come back converted by the columns' own result
    processors, as from a Core ``select``. For the hot paths, where building, compiling and reading
    a Core statement costs more than the query (``one_of`` gives a condition on a list of values
    whose text does not change with it)."""
    head, keys, processors = _read_plan(source, conn.dialect, names)
    return Query(
        f"{head} WHERE {condition} {tail}", tuple(params), lambda rows: rows_as_dicts(rows, keys, processors)
    )


def rows_as_dicts(
    rows: Iterable[Sequence[Any]],
    keys: tuple[str, ...],
    processors: tuple[tuple[int, Callable[[Any], Any]], ...],
) -> list[dict[str, Any]]:
    """Driver rows as dicts of ``keys``, each value through its column's processor, if any."""
    found = []
    for row in rows:
        values = list(row)
        for index, process in processors:
            values[index] = process(values[index])
        found.append(dict(zip(keys, values, strict=True)))
    return found


def result_processors(
    dialect: Dialect, types: Sequence[TypeEngine[Any]]
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """(index, processor) for each of ``types`` (a result's columns' types, in order) that converts
    what the driver returns."""
    return tuple(
        (index, processor)
        for index, type_ in enumerate(types)
        if (processor := type_.result_processor(dialect, None)) is not None
    )


def placeholder(dialect: Dialect) -> str:
    """The driver's parameter mark, for our own SQL text."""
    return "%s" if dialect.name == "postgresql" else "?"


@cache
def bind_time(dialect: Dialect) -> Callable[[datetime], Any]:
    """A timestamp as the driver takes it for our UTC columns (text on SQLite)."""
    return UTCDateTime().bind_processor(dialect) or _same


@cache
def read_time(dialect: Dialect) -> Callable[[Any], Any]:
    """A timestamp of our UTC columns as the driver returns it, made a UTC datetime."""
    return UTCDateTime().result_processor(dialect, None) or _same


def _same(value: Any) -> Any:
    return value


# PostgreSQL plans a set-returning function as 100 rows, so a list of three ids joined to a table
# of a few thousand rows (a young gateway's) was planned as a hash join over a scan of the whole
# table: ~1 ms a statement where its index answers in 0.1 (docs/performance.md). A LIMIT given as
# a parameter is planned as what it says (a custom plan) or as a tenth of the rows (a generic one),
# and leaves the index lookups the cheapest plan at any size. It is the number of rows given, so
# it never cuts the list. Use ``given`` for the parameters: (JSON, count).
PG_GIVEN_ROWS = "(SELECT jsonb_array_elements(%s::jsonb) AS e LIMIT %s) AS given"  # its rows: e
PG_GIVEN_TEXTS = "(SELECT jsonb_array_elements_text(%s::jsonb) AS value LIMIT %s) AS given"  # value


def given(dialect: Dialect, items: Sequence[Any]) -> tuple[Any, ...]:
    """The parameters of a JSON list of ``items`` read as rows: on PostgreSQL the JSON and its count
    (``PG_GIVEN_ROWS``, ``PG_GIVEN_TEXTS``); on SQLite the JSON (``json_each(?)``)."""
    encoded = _json.encode(items).decode()
    return (encoded, len(items)) if dialect.name == "postgresql" else (encoded,)


def one_of(conn: Connection, column: Column[Any], values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """A condition ``column IN (values)`` and its parameters, whose text does not change with the
    number of values (long IN lists cost Python per value in psycopg). Use it with ``execute``."""
    name = f"{column.table.name}.{column.name}"
    params = given(conn.dialect, list(values))
    if conn.dialect.name == "postgresql":
        cast = column.type.compile(conn.dialect)
        return f"{name} IN (SELECT value::{cast} FROM {PG_GIVEN_TEXTS})", params  # noqa: S608 - our names only
    return f"{name} IN (SELECT value FROM json_each(?))", params  # noqa: S608 - our names only
