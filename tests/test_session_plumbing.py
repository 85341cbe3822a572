"""execute_core keeps the session transaction's connection, and App.ensure_sync remembers plain functions:
both must answer exactly as the uncached calls did, across commits, rollbacks, savepoints and failures."""
from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, PendingRollbackError

from webapp.extensions import execute_core
from webapp.models import AlertState

ALERTS = AlertState.__table__


def _add(name: str) -> None:
    execute_core(insert(ALERTS).values(name=name, firing=False, figure=""))


def _names(db) -> list[str]:
    return sorted(db.session.scalars(select(AlertState.name)))


def test_execute_core_after_a_commit_writes_in_the_sessions_next_transaction(db):
    _add("first")
    db.session.commit()
    _add("second")  # the committed transaction's connection went back to the pool: not reused
    assert execute_core(select(func.count()).select_from(ALERTS)).scalar() == 2  # it sees its own write
    db.session.rollback()
    assert _names(db) == ["first"]


def test_execute_core_after_a_rollback_writes_only_what_the_next_commit_keeps(db):
    _add("dropped")
    db.session.rollback()
    _add("kept")
    db.session.commit()
    db.session.remove()
    assert _names(db) == ["kept"]


def test_execute_core_uses_the_connection_the_session_hands_out(db):
    execute_core(select(1))
    assert execute_core(select(1)).connection is db.session.connection()
    db.session.commit()
    execute_core(select(1))
    assert execute_core(select(1)).connection is db.session.connection()


def test_a_savepoint_rolled_back_takes_execute_cores_write_and_the_transaction_goes_on(db):
    _add("outer")
    savepoint = db.session.begin_nested()
    _add("inner")
    savepoint.rollback()
    _add("after")
    db.session.commit()
    db.session.remove()
    assert _names(db) == ["after", "outer"]


def test_execute_core_refuses_to_run_after_a_failed_flush_until_the_rollback(db):
    db.session.add(AlertState(name="twice", firing=False, figure=""))
    db.session.commit()
    _add("lost")
    db.session.add(AlertState(name="twice", firing=False, figure=""))
    with pytest.raises(IntegrityError):
        db.session.flush()
    with pytest.raises(PendingRollbackError):  # as db.session.connection() answers: nothing runs
        _add("never")
    db.session.rollback()
    _add("fresh")
    db.session.commit()
    db.session.remove()
    assert _names(db) == ["fresh", "twice"]


def test_ensure_sync_returns_a_plain_function_itself_every_time(app):
    def hook() -> None:
        return None

    assert app.ensure_sync(hook) is hook
    assert app.ensure_sync(hook) is hook


def test_ensure_sync_hands_an_async_function_to_flask_every_time_not_from_memory(app, monkeypatch):
    async def view() -> str:
        return "done"

    converted = []
    monkeypatch.setattr(app, "async_to_sync", lambda f: converted.append(f) or (lambda: "sync"))
    assert app.ensure_sync(view)() == "sync"
    assert app.ensure_sync(view)() == "sync"
    assert converted == [view, view]


def test_ensure_sync_accepts_an_unhashable_callable(app):
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self) -> str:
            return "called"

    hook = Unhashable()
    assert app.ensure_sync(hook) is hook and app.ensure_sync(hook)() == "called"
