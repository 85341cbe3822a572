"""Flask extensions, created unbound; `create_app` binds them to an app."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import CursorResult, Executable, String, Table
from sqlalchemy.dialects import postgresql, sqlite

from webapp.db_types import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


# How long a connection waits for another's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000
# Set on every new SQLite connection, in this order (the wait first, so switching to WAL waits too):
# WAL lets readers run beside the one writer and commits with one append instead of a journal file;
# synchronous=NORMAL syncs at checkpoints, not at every commit (a power cut may lose the last commits,
# never corrupt the file); SQLite ignores foreign keys (and ON DELETE CASCADE) unless switched on.
SQLITE_PRAGMAS = (f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}", "PRAGMA journal_mode=WAL",
                  "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")


def configure_sqlite_connection(dbapi_connection: object, connection_record: object) -> None:
    """Make a new SQLite connection a server database's: WAL, synchronous=NORMAL, busy timeout, foreign keys."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()


def commit_keeping_loaded() -> None:
    """Commit the unit of work without expiring what the session holds, so the caller answers from it.

    A plain commit expires every loaded object, and the next attribute read is another SELECT. For a
    service that has just written (or evaluated) everything its answer shows, that read only repeats
    what it already knows.
    """
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def execute_core(statement: Executable,
                 params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None) -> CursorResult[Any]:
    """Run a Core statement (on Tables, not ORM entities) in the session's transaction, on its connection.

    The same SQL in the same transaction as `db.session.execute`, without the ORM's per-statement layer
    (its execution options, events and result wrapping cost about as much as the driver's call for the
    hot paths' short statements). Like `db.session.execute` of a Core statement, it does not autoflush:
    ORM changes still pending reach the database at the next flush or commit, after this statement.
    Not for ORM-enabled statements (select(Model), update(Model) ...): those stay on db.session.
    """
    return db.session.connection().execute(statement, params)


# The parameters of the statement pairs execute_for_ids chooses between.
IDS, ONE_ID = "ids", "one_id"


def execute_for_ids(many: Executable, one: Executable, ids: Sequence[object], **params: object) -> CursorResult[Any]:
    """Run a statement naming rows by id (execute_core): `one`, with :one_id, for a single id; else `many`,
    with the expanding :ids list.

    The pair selects the same rows (`col = :one_id` is `col IN (:ids)` of one). It exists because an
    expanding list is rewritten into the SQL on every execution, which costs about a fifth of a short
    statement, and most requests name one thing.
    """
    if len(ids) == 1:
        return execute_core(one, {**params, ONE_ID: ids[0]})
    return execute_core(many, {**params, IDS: ids})


def on_postgresql() -> bool:
    """Whether the session's database is PostgreSQL: its engine's dialect, known without a statement (~3 µs)."""
    return db.session.get_bind().dialect.name == "postgresql"


def insert_ignoring_conflict(model: Any, keys: Sequence[str],
                             values: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Executable:
    """`INSERT … ON CONFLICT (keys) DO NOTHING` of these values (a row or a list of rows), in the session's
    database's dialect: creates a row once, concurrent inserts of the same key included. Run it with
    db.session.execute."""
    insert = postgresql.insert if on_postgresql() else sqlite.insert
    return insert(model).values(values).on_conflict_do_nothing(index_elements=list(keys))


_PG = postgresql.dialect()


def _array_type(table: Table, column: str) -> str:
    """The PostgreSQL array type a column's values are sent as. Strings go as unbounded varchar: a CAST to
    varchar(n) would cut a longer value silently, where the INSERT into the column refuses it."""
    type_ = table.c[column].type
    return "varchar[]" if isinstance(type_, String) else f"{type_.compile(dialect=_PG)}[]"


def _column_list(columns: Sequence[str]) -> str:
    """The columns named in an INSERT, quoted where PostgreSQL needs it."""
    return ", ".join(_PG.identifier_preparer.quote(c) for c in columns)


def insert_unnested(table: Table, columns: Sequence[str]) -> str:
    """PostgreSQL's INSERT of any number of rows in one fixed statement (SQL text, to compose into others):
    each column's values come as ONE array parameter, named by unnested_params, and the rows go in in list
    order. The text never depends on the number of rows, so it is built and compiled once, and it has one
    parameter per column however many rows it carries: PostgreSQL's limit of 65535 parameters a statement
    never comes near, where a VALUES list needs one per value."""
    names = _column_list(columns)
    arrays = ", ".join(f"CAST(:{table.name}_{c} AS {_array_type(table, c)})" for c in columns)
    return (f"INSERT INTO {table.name} ({names}) SELECT {names} FROM unnest({arrays}) "
            f"WITH ORDINALITY AS unnested({names}, unnested_order) ORDER BY unnested_order")


def insert_values(table: Table, columns: Sequence[str], count: int) -> str:
    """An INSERT of exactly `count` rows as a VALUES list (SQL text, to compose into others), its parameters
    named by values_params. Where the number of rows is fixed and small (the hot paths' one entry), it costs
    the client less than insert_unnested: psycopg adapts a list parameter in Python, about 15 µs each."""
    rows = ", ".join("(" + ", ".join(f":{table.name}_{c}_{i}" for c in columns) + ")" for i in range(count))
    return f"INSERT INTO {table.name} ({_column_list(columns)}) VALUES {rows}"


def values_params(table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parameters of insert_values(table, columns, len(rows)) carrying these rows."""
    return {f"{table.name}_{c}_{i}": row[c] for i, row in enumerate(rows) for c in columns}


def unnested_params(table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The parameters of insert_unnested(table, columns) carrying these rows: one list per column. The values
    reach the driver as they are (no column type processes them): datetimes must be aware, as clock.now()'s."""
    return {f"{table.name}_{c}": [row[c] for row in rows] for c in columns}
