"""The floor for bench/http_bench.py: a bare Flask endpoint doing one conditional UPDATE ... RETURNING on a hot row.

Served by gunicorn exactly like the product (`gunicorn 'floor_app:create_floor_app()'` with bench/ on
the Python path), on the same database with the same connection settings (SQLite: WAL,
synchronous=NORMAL, busy timeout, foreign keys), so a product figure divided by this one is what the
product's own work costs. FLOOR_DATABASE_URL names the database; the bench creates `bench_floor` first.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify  # noqa: E402
from flask.wrappers import Response  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402

from webapp.config import normalise_database_url  # noqa: E402
from webapp.extensions import configure_sqlite_connection  # noqa: E402

TABLE = "bench_floor"
CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)"
# Conditional like the gate's counter: the row count decides, RETURNING answers without a second read.
BUMP = text(f"UPDATE {TABLE} SET n = n + 1 WHERE id = 1 AND n < :cap RETURNING n")
CAP = 2**62


def create_floor_app() -> Flask:
    """The floor app on FLOOR_DATABASE_URL: POST /floor bumps the hot row and answers its new value."""
    engine = create_engine(normalise_database_url(os.environ["FLOOR_DATABASE_URL"]), pool_recycle=1800)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", configure_sqlite_connection)
    app = Flask(__name__)

    @app.post("/floor")
    def floor() -> Response:
        with engine.begin() as conn:
            n = conn.execute(BUMP, {"cap": CAP}).scalar()
        return jsonify(n=n)

    return app


def prepare(url: str) -> None:
    """Create the floor's table with its one hot row (called by the bench, not by the server)."""
    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(text(CREATE))
        conn.execute(text(f"DELETE FROM {TABLE}"))
        conn.execute(text(f"INSERT INTO {TABLE} (id, n) VALUES (1, 0)"))
    engine.dispose()
