"""Posted entries and their lines are immutable in the database itself, whatever SQL reaches it.

Every test runs on each backend. The triggers come from webapp/models/ledger_guards.py through
create_all here; tests/test_migrations.py checks migration 0006 leaves the very same triggers.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Executable, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from tests.factories import import_txns, propose_all, set_plan
from webapp.bookkeeping import proposals
from webapp.models import Account, Company, JournalEntry, JournalLine, Tenant, Transaction
from webapp.models.ledger_guards import ENTRY_MESSAGE, LINE_MESSAGE


@dataclass(frozen=True)
class Ledger:
    """One tenant with one posted entry and one proposed entry, and the ids the statements need."""

    tenant: str
    company: str
    posted: str
    posted_txn: str
    proposed: str
    proposed_txn: str
    other_account: str


@pytest.fixture
def ledger(api_client: Any, clock: Any, db: Any) -> Ledger:
    set_plan(api_client.tenant_id, "pro")
    posted, proposed = propose_all(api_client, import_txns(api_client, 2))
    assert api_client.post("/api/post/commit", json={"je_ids": [posted]}).status_code == 200
    entries = {e.id: e for e in db.session.scalars(select(JournalEntry))}
    company = entries[posted].company_id
    other = db.session.scalar(select(Account.id).where(Account.company_id == company, Account.code == "6500"))
    assert entries[posted].status == "posted" and entries[proposed].status == "proposed"
    assert entries[posted].account_id != other
    return Ledger(tenant=api_client.tenant_id, company=company, posted=posted, posted_txn=entries[posted].txn_id,
                  proposed=proposed, proposed_txn=entries[proposed].txn_id, other_account=other)


TABLES = [t.__table__ for t in (Tenant, Company, Transaction, JournalEntry, JournalLine)]


def snapshot(db: Any) -> dict[str, list[Any]]:
    """Every row of the tables a refused statement could touch, as the database has them now."""
    return {t.name: db.session.execute(select(t).order_by(*t.primary_key.columns)).all() for t in TABLES}


def assert_refused(db: Any, stmt: Executable, message: str) -> None:
    """The statement raises the trigger's message and leaves every row as it was."""
    before = snapshot(db)
    with pytest.raises(IntegrityError) as raised:
        db.session.execute(stmt)
        db.session.commit()
    db.session.rollback()
    assert message in str(raised.value.orig)
    assert snapshot(db) == before


Statement = Callable[[Ledger], Executable]

ENTRY_UPDATES: dict[str, Statement] = {
    "account": lambda lg: update(JournalEntry).where(JournalEntry.id == lg.posted)
    .values(account_id=lg.other_account),
    "memo": lambda lg: update(JournalEntry).where(JournalEntry.id == lg.posted).values(memo="edited afterwards"),
    "date": lambda lg: update(JournalEntry).where(JournalEntry.id == lg.posted).values(date=date(2024, 12, 31)),
    "status_back_to_proposed": lambda lg: update(JournalEntry).where(JournalEntry.id == lg.posted)
    .values(status="proposed", posted_at=None),
    "posted_again_later": lambda lg: update(JournalEntry).where(JournalEntry.id == lg.posted)
    .values(posted_at=datetime(2025, 2, 1, tzinfo=UTC)),
}


@pytest.mark.parametrize("change", ENTRY_UPDATES.values(), ids=ENTRY_UPDATES.keys())
def test_updating_a_posted_entry_is_refused_and_changes_nothing(db, ledger, change):
    assert_refused(db, change(ledger), ENTRY_MESSAGE)


LINE_CHANGES: dict[str, Statement] = {
    "update_amounts": lambda lg: update(JournalLine).where(JournalLine.entry_id == lg.posted)
    .values(amount_cents=JournalLine.amount_cents * 2),
    "update_account": lambda lg: update(JournalLine)
    .where(JournalLine.entry_id == lg.posted, JournalLine.position == 2).values(account_id=lg.other_account),
    "move_out_to_a_proposal": lambda lg: update(JournalLine)
    .where(JournalLine.entry_id == lg.posted, JournalLine.position == 2).values(entry_id=lg.proposed, position=3),
    "move_in_from_a_proposal": lambda lg: update(JournalLine)
    .where(JournalLine.entry_id == lg.proposed, JournalLine.position == 2).values(entry_id=lg.posted, position=3),
    "insert": lambda lg: insert(JournalLine)
    .values(entry_id=lg.posted, account_id=lg.other_account, position=3, amount_cents=1),
    "delete": lambda lg: delete(JournalLine).where(JournalLine.entry_id == lg.posted),
}


@pytest.mark.parametrize("change", LINE_CHANGES.values(), ids=LINE_CHANGES.keys())
def test_changing_a_posted_entrys_lines_is_refused_and_changes_nothing(db, ledger, change):
    assert_refused(db, change(ledger), LINE_MESSAGE)


DELETES: dict[str, Statement] = {
    "the_entry": lambda lg: delete(JournalEntry).where(JournalEntry.id == lg.posted),
    "its_transaction": lambda lg: delete(Transaction).where(Transaction.id == lg.posted_txn),
    "its_company": lambda lg: delete(Company).where(Company.id == lg.company),
    "its_tenant": lambda lg: delete(Tenant).where(Tenant.id == lg.tenant),
}


@pytest.mark.parametrize("target", DELETES.values(), ids=DELETES.keys())
def test_deleting_a_posted_entry_or_what_owns_it_is_refused_and_changes_nothing(db, ledger, target):
    assert_refused(db, target(ledger), ENTRY_MESSAGE)


def test_deleting_a_posted_entry_through_the_orm_is_refused_at_its_lines(db, ledger):
    before = snapshot(db)
    db.session.delete(db.session.get(JournalEntry, ledger.posted))
    with pytest.raises(IntegrityError) as raised:
        db.session.commit()  # the ORM deletes the lines (cascade="all, delete-orphan") before the entry
    db.session.rollback()
    assert LINE_MESSAGE in str(raised.value.orig)
    assert snapshot(db) == before


def entry_row(db: Any, je_id: str) -> JournalEntry | None:
    db.session.expire_all()
    return db.session.get(JournalEntry, je_id)


def test_a_proposed_entry_can_still_be_reassigned_reproposed_and_deleted(api_client, db, ledger):
    entry = proposals.reassign_account(ledger.tenant, ledger.proposed, "6500")
    assert entry.account.code == "6500" and entry.lines[1].account.code == "6500"
    db.session.expunge_all()  # the proposal's lines go by bulk delete; SQLite may reuse their ids

    again = propose_all(api_client, [ledger.proposed_txn])[0]
    assert again != ledger.proposed and entry_row(db, ledger.proposed) is None

    db.session.execute(delete(JournalEntry).where(JournalEntry.id == again))
    db.session.commit()
    assert entry_row(db, again) is None
    assert db.session.scalars(select(JournalLine).where(JournalLine.entry_id == again)).all() == []

    third = propose_all(api_client, [ledger.proposed_txn])[0]
    db.session.execute(delete(Transaction).where(Transaction.id == ledger.proposed_txn))
    db.session.commit()
    assert entry_row(db, third) is None
    assert entry_row(db, ledger.posted).status == "posted"


def test_the_commit_path_still_posts_and_then_the_entry_is_immutable(api_client, db, ledger, clock):
    resp = api_client.post("/api/post/commit", json={"je_ids": [ledger.proposed]})
    assert resp.status_code == 200 and resp.get_json()["data"][0]["status"] == "posted"
    entry = entry_row(db, ledger.proposed)
    assert entry.status == "posted" and entry.posted_at == clock.now()
    assert len(api_client.get("/api/ledger").get_json()["data"]) == 2
    assert_refused(db, update(JournalEntry).where(JournalEntry.id == ledger.proposed).values(memo="x"),
                   ENTRY_MESSAGE)


def wait_until_blocked(db: Any, backend: str, pid: int | None) -> None:
    """Return once the other connection waits for a lock (PostgreSQL); SQLite cannot say, so give it a moment."""
    if backend != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            waiting = conn.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                                   {"pid": pid}).scalar()
        if waiting == "Lock":
            return
        time.sleep(0.02)
    pytest.fail("the line change never waited for the posting transaction")


def test_a_line_change_racing_the_commit_waits_for_it_and_is_refused(db, ledger, backend):
    """The trigger locks the entry row, so a line change cannot read 'proposed' while the posting is in flight."""
    db.session.remove()
    engine = db.engine
    before = [(line.id, line.amount_cents) for line in
              db.session.scalars(select(JournalLine).where(JournalLine.entry_id == ledger.proposed))]
    db.session.remove()
    outcome: dict[str, Any] = {}
    started = threading.Event()

    def change_lines() -> None:
        with engine.connect() as conn:
            if backend == "postgresql":
                outcome["pid"] = conn.execute(text("SELECT pg_backend_pid()")).scalar()
                conn.rollback()
            started.set()
            try:
                with conn.begin():
                    conn.execute(update(JournalLine).where(JournalLine.entry_id == ledger.proposed)
                                 .values(amount_cents=JournalLine.amount_cents * 2))
                outcome["result"] = "committed"
            except IntegrityError as exc:
                outcome["result"] = str(exc.orig)

    with engine.connect() as posting:
        posting.begin()
        posting.execute(update(JournalEntry).where(JournalEntry.id == ledger.proposed)
                        .values(status="posted", posted_at=datetime(2025, 1, 31, tzinfo=UTC)))
        worker = threading.Thread(target=change_lines)
        worker.start()
        assert started.wait(10)
        wait_until_blocked(db, backend, outcome.get("pid"))
        posting.commit()
    worker.join(30)

    assert LINE_MESSAGE in outcome["result"]
    after = [(line.id, line.amount_cents) for line in
             db.session.scalars(select(JournalLine).where(JournalLine.entry_id == ledger.proposed))]
    assert after == before
