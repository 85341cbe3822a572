"""The schema the migrations build equals the models, on SQLite and PostgreSQL, and downgrades cleanly."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from tests.conftest import drop_pg_schema, postgres_base_url, reset_pg_schema, with_search_path
from tests.factories import set_plan
from tests.test_posting_history import counters, ledger_counts
from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.models import Tenant

MIGRATION_SCHEMA = f"aibk_migrations_{os.getpid()}"


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "postgresql":
        reset_pg_schema(MIGRATION_SCHEMA)
        yield with_search_path(postgres_base_url() or "", MIGRATION_SCHEMA)
        drop_pg_schema(MIGRATION_SCHEMA)
        return
    yield f"sqlite:///{tmp_path / 'migrated.db'}"


def test_migrations_build_the_schema_the_models_describe(empty_database_url):
    app = create_app(TestConfig(database_url=empty_database_url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, db.metadata)
        db.engine.dispose()
    assert diff == []


def test_migrations_downgrade_to_an_empty_database(empty_database_url):
    app = create_app(TestConfig(database_url=empty_database_url))
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        db.engine.dispose()
    assert tables == set()


def test_migrated_check_constraints_have_the_models_names_and_allow_manual_proposals(empty_database_url):
    """compare_metadata ignores check constraints (autogenerate cannot see them change), so check them here."""
    app = create_app(TestConfig(database_url=empty_database_url))
    with app.app_context():
        upgrade()
        inspector = inspect(db.engine)
        migrated = {(t, c["name"]): c["sqltext"] for t in db.metadata.tables
                    for c in inspector.get_check_constraints(t)}
        db.engine.dispose()
    modelled = {(t.name, c.name) for t in db.metadata.sorted_tables for c in t.constraints
                if c.__class__.__name__ == "CheckConstraint" and c.name}
    assert set(migrated) == modelled
    assert "'manual'" in migrated[("journal_entries", "ck_journal_entries_source_known")]


def ledger_triggers(conn) -> dict[str, str]:
    """The database's triggers (and PostgreSQL's trigger functions), by name, without the test's schema name."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    else:
        rows = conn.execute(text(
            "SELECT tgname, replace(pg_get_triggerdef(oid), current_schema() || '.', '') FROM pg_trigger "
            "WHERE NOT tgisinternal "
            "AND tgrelid::regclass::text IN ('journal_entries', 'journal_lines') "
            "UNION ALL SELECT proname, prosrc FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"))
    return dict(rows.all())


def test_migrations_and_create_all_leave_the_same_ledger_triggers(app, empty_database_url):
    """Migration 0006 keeps a frozen copy of webapp/models/ledger_guards.py; the two must not drift apart."""
    with db.engine.connect() as conn:
        modelled = ledger_triggers(conn)
    migrated_app = create_app(TestConfig(database_url=empty_database_url))
    with migrated_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            migrated = ledger_triggers(conn)
        downgrade(revision="0005")
        with db.engine.connect() as conn:
            downgraded = ledger_triggers(conn)
        db.engine.dispose()
    assert len(modelled) == (5 if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else 4)
    assert migrated == modelled
    assert downgraded == {}


def signed_up(client, email: str) -> dict[str, str]:
    """Sign up through the API of the migrated database; the new tenant's Bearer header."""
    token = client.post("/api/auth/signup", json={"email": email, "password": "migrate-me-1",
                                                   "full_name": "M"}).get_json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_downgrading_and_upgrading_again_keeps_every_journal_line(empty_database_url):
    """0004 rebuilds journal_entries on SQLite; with foreign keys on, that DROP would cascade into the lines."""
    app = create_app(TestConfig(database_url=empty_database_url))
    with app.app_context():
        upgrade()
        client = app.test_client()
        auth = signed_up(client, "m@example.com")
        rows = [{"id": f"t{i}", "date": "2025-01-02", "description": f"Staples {i}", "amount_cents": -100 - i}
                for i in range(3)]
        assert client.post("/api/transactions", json={"transactions": rows}, headers=auth).status_code == 201
        assert client.post("/api/post/propose", json={"txn_ids": ["t0", "t1", "t2"]}, headers=auth).status_code == 200
        db.session.remove()

        def lines() -> int:
            with db.engine.connect() as conn:
                return conn.execute(text("SELECT count(*) FROM journal_lines")).scalar_one()

        before = lines()
        downgrade(revision="0003")
        assert lines() == before == 6
        upgrade()
        assert lines() == before
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # switched back on
        db.engine.dispose()


def test_the_posting_history_backfill_counts_what_posting_counted_and_what_the_ledger_holds(empty_database_url):
    """0012 backfills posting_history from the posted entries in one INSERT … SELECT: downgrading past it
    and upgrading again must give back exactly the counters the app kept while posting."""
    app = create_app(TestConfig(database_url=empty_database_url))
    with app.app_context():
        upgrade()
        client = app.test_client()
        auth = signed_up(client, "h@example.com")
        rows = [{"id": f"t{i}", "date": "2025-01-02", "description": f"{name} order {i}", "amount_cents": -100 - i,
                 **({"counterparty": name} if i % 3 else {})}
                for i, name in enumerate(["Staples", "Staples", "Uber", "Staples", "Comcast", "Uber", "XQZ"])]
        set_plan(db.session.scalars(select(Tenant.id)).one(), "firm")
        assert client.post("/api/transactions", json={"transactions": rows}, headers=auth).status_code == 201
        resp = client.post("/api/post/propose", json={"txn_ids": [r["id"] for r in rows]}, headers=auth)
        je_ids = [e["je_id"] for e in resp.get_json()["data"]]
        assert client.post("/api/post/commit", json={"je_ids": je_ids[:2]}, headers=auth).status_code == 200
        assert client.post("/api/post/commit", json={"je_ids": je_ids[2:-1]}, headers=auth).status_code == 200
        kept = counters(db)
        db.session.remove()
        downgrade(revision="0013")  # the revision before 0012
        assert "posting_history" not in inspect(db.engine).get_table_names()
        upgrade()
        backfilled = counters(db)
        aggregated = ledger_counts(db)
        db.session.remove()
        db.engine.dispose()
    assert backfilled == kept == aggregated
    assert sum(n for (_, kind, _, _), n in backfilled.items() if kind == "pattern") == len(rows) - 1
