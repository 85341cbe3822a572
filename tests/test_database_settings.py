"""Database connection settings: SQLite is set up as a server database on every connection."""
from __future__ import annotations

import pytest
from sqlalchemy import text


@pytest.fixture
def backend() -> str:
    """These settings are SQLite's own."""
    return "sqlite"


def test_every_sqlite_connection_runs_in_wal_with_normal_sync_busy_timeout_and_foreign_keys(app, db):
    # Two connections at once: the pool's second connection gets the same settings as the first.
    with db.engine.connect() as first, db.engine.connect() as second:
        for conn in (first, second):
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_the_engine_recycles_connections_instead_of_pinging_before_each_checkout(app, db):
    assert db.engine.pool._pre_ping is False
    assert db.engine.pool._recycle == app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_recycle"] > 0
