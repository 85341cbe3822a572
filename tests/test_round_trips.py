"""Round trips on the hot paths: what each request sends to the database, and that nothing is read after COMMIT."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from tests.billing.helpers import signature_header
from tests.factories import import_txns, propose_all, set_plan
from webapp.bookkeeping.transactions import MAX_IDS

SECRET = "whsec_round_trips"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"STRIPE_WEBHOOK_SECRET": SECRET}


_WRITES = r"(?<!DO )\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+(\w+)"  # not ON CONFLICT's DO UPDATE


def label(statement: str) -> str:
    """'SELECT journal_entries+accounts', 'UPDATE usage_monthly', 'INSERT billing_events': verb and tables; a
    statement with data-modifying CTEs, its writes in order: 'WITH UPDATE journal_entries+INSERT posting_history'."""
    verb = statement.split()[0].upper()
    if verb == "WITH":
        writes = re.findall(_WRITES, statement, re.IGNORECASE)
        return "WITH " + "+".join(f"{what.split()[0].upper()} {table}" for what, table in writes)
    if verb == "SELECT":
        tables = re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", statement, re.IGNORECASE)
        return "SELECT " + "+".join(dict.fromkeys(tables))
    match = re.search(r"^(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+(\w+)", statement, re.IGNORECASE)
    return f"{verb} {match.group(1)}" if match else verb


def test_a_statement_with_data_modifying_ctes_is_labelled_by_its_writes_in_order():
    assert label("WITH changed AS (UPDATE journal_entries SET status = 'posted' WHERE id = ANY(:ids) RETURNING 1), "
                 "counted AS (INSERT INTO posting_history (n) SELECT n FROM unnest(:n) ON CONFLICT (k) DO UPDATE "
                 "SET n = posting_history.n + excluded.n) SELECT count(*) FROM changed"
                 ) == "WITH UPDATE journal_entries+INSERT posting_history"
    assert label("WITH e AS (INSERT INTO journal_entries (id) SELECT 1) INSERT INTO journal_lines (x) SELECT 2"
                 ) == "WITH INSERT journal_entries+INSERT journal_lines"
    assert label("INSERT INTO posting_history (n) VALUES (1) ON CONFLICT (k) DO UPDATE SET n = 2"
                 ) == "INSERT posting_history"


def on_postgresql(db) -> bool:
    return db.engine.dialect.name == "postgresql"


@contextmanager
def sent(db) -> Iterator[list[str]]:
    """Record every statement and COMMIT the app sends inside the block, in order."""
    seen: list[str] = []

    def on_statement(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(label(statement))

    def on_commit(conn: object) -> None:
        seen.append("COMMIT")

    event.listen(db.engine, "before_cursor_execute", on_statement)
    event.listen(db.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", on_statement)
        event.remove(db.engine, "commit", on_commit)


def warm(request: Callable[[], Any]) -> None:
    """One request first, so the token's once-a-minute last_used_at write and the month's rows are done."""
    assert request().status_code == 200


def test_a_warm_commit_reads_token_and_entitlement_in_one_statement_posts_and_counts_history_in_one_statement_on_postgresql_counts_last_and_no_read_after_commit(
        api_client, db):
    set_plan(api_client.tenant_id, "firm")
    je_ids = propose_all(api_client, import_txns(api_client, 2))
    warm(lambda: api_client.post("/api/post/commit", json={"je_ids": [je_ids[0]]}))
    with sent(db) as seen:
        resp = api_client.post("/api/post/commit", json={"je_ids": [je_ids[1]]})
    assert resp.status_code == 200
    body = resp.get_json()["data"][0]
    assert body["status"] == "posted" and body["posted_at"] and len(body["lines"]) == 2
    # The gate: its read comes with the token's, its counting UPDATE last, so the usage row is locked only
    # until the COMMIT.
    # On PostgreSQL the posting's UPDATE and the history's count are one statement (data-modifying CTEs).
    posting = (["WITH UPDATE journal_entries+INSERT posting_history"] if on_postgresql(db)
               else ["UPDATE journal_entries", "INSERT posting_history"])
    assert seen == ["SELECT api_tokens+entitlements+entitlement_overrides",
                    "SELECT journal_entries+accounts+companies+transactions+journal_lines", *posting,
                    "UPDATE usage_monthly", "COMMIT"]


def test_with_the_gate_off_a_commit_reads_the_token_alone(api_client, db, app):
    set_plan(api_client.tenant_id, "firm")
    je_ids = propose_all(api_client, import_txns(api_client, 2))
    warm(lambda: api_client.post("/api/post/commit", json={"je_ids": [je_ids[0]]}))
    app.config["GATE_ENABLED"] = False
    with sent(db) as seen:
        assert api_client.post("/api/post/commit", json={"je_ids": [je_ids[1]]}).status_code == 200
    assert seen[0] == "SELECT api_tokens" and not any("entitlements" in s for s in seen)


def test_an_entitlement_read_with_the_token_serves_one_gate_read_of_that_tenant_in_that_request_only(
        api_client, db, app):
    from webapp.billing.services import EFFECTIVE_COLUMNS, read_effective, remember_effective

    set_plan(api_client.tenant_id, "firm")
    values = ("pro", True, "active", 2000, True, 3, 0, None, None, None)
    assert len(values) == len(EFFECTIVE_COLUMNS)
    with app.test_request_context("/api/post/commit"), sent(db) as seen:
        remember_effective(api_client.tenant_id, values)
        first, second = read_effective(api_client.tenant_id), read_effective(api_client.tenant_id)
        remember_effective("tenant_elsewhere", values)
        third = read_effective(api_client.tenant_id)  # remembered for another tenant: not this one's
    assert (first.plan, first.tx_cap) == ("pro", 2000)  # what the token's statement read
    assert (second.plan, second.tx_cap) == ("firm", 10_000)  # read again: the remembered one serves once
    assert third.plan == "firm" and seen.count("SELECT entitlements+entitlement_overrides") == 2
    with app.test_request_context("/api/post/commit"):  # another request never sees it
        assert read_effective(api_client.tenant_id).plan == "firm"


def test_a_propose_reads_its_transactions_with_their_entries_status_and_its_history_from_the_counters_writes_entries_and_lines_in_one_statement_on_postgresql_one_each_elsewhere_counts_last_and_reads_nothing_after_commit(
        api_client, db):
    set_plan(api_client.tenant_id, "firm")
    txns = import_txns(api_client, 2)
    warm(lambda: api_client.post("/api/post/propose", json={"txn_ids": [txns[0]]}))
    with sent(db) as seen:
        resp = api_client.post("/api/post/propose", json={"txn_ids": [txns[1]]})
    assert resp.status_code == 200
    entry = resp.get_json()["data"][0]
    assert entry["status"] == "proposed" and entry["proposed_at"] and len(entry["lines"]) == 2
    assert entry["account"]["code"] and entry["client_txn_id"] == txns[1]
    # The gate's count is the last statement: the entries are written first, the usage row locked only then.
    # The transactions' read (the gate's, reused by the proposer) brings each one's entry status with it.
    # On PostgreSQL the entries and their lines go in one statement (the entries' INSERT a data-modifying CTE).
    writes = (["WITH INSERT journal_entries+INSERT journal_lines"] if on_postgresql(db)
              else ["INSERT journal_entries", "INSERT journal_lines"])
    assert seen == ["SELECT api_tokens+entitlements+entitlement_overrides", "SELECT transactions+journal_entries",
                    "SELECT accounts+companies", "SELECT posting_history", *writes, "UPDATE usage_monthly", "COMMIT"]


def test_the_largest_proposal_a_request_allows_writes_in_one_statement_on_postgresql_every_entry_with_its_lines_in_order(
        api_client, db):
    """MAX_IDS transactions: PostgreSQL's statement takes one array per column (17 parameters, far below its
    limit of 65535), so it stays one statement; SQLite's two executemany INSERTs are one statement each too."""
    from sqlalchemy import select

    from webapp.models import JournalEntry, JournalLine

    set_plan(api_client.tenant_id, "firm")
    txns = import_txns(api_client, MAX_IDS)
    with sent(db) as seen:
        resp = api_client.post("/api/post/propose", json={"txn_ids": txns})
    assert resp.status_code == 200
    entries = resp.get_json()["data"]
    assert [e["client_txn_id"] for e in entries] == txns
    writes = [s for s in seen if "journal_" in s and not s.startswith("SELECT")]
    assert writes == (["WITH INSERT journal_entries+INSERT journal_lines"] if on_postgresql(db)
                      else ["INSERT journal_entries", "INSERT journal_lines"])
    db.session.expire_all()
    je_ids = [e["je_id"] for e in entries]
    assert db.session.scalars(select(JournalEntry.id).order_by(JournalEntry.id)).all() == sorted(je_ids)
    lines = db.session.execute(select(JournalLine.entry_id, JournalLine.position, JournalLine.amount_cents)
                               .order_by(JournalLine.id)).all()
    # The lines went in in request order, each entry's bank line first, and every entry balances.
    assert [(entry_id, position) for entry_id, position, _ in lines] == [(j, p) for j in je_ids for p in (1, 2)]
    assert all(lines[i][2] + lines[i + 1][2] == 0 and lines[i][2] != 0 for i in range(0, len(lines), 2))


def test_the_token_read_brings_only_the_token_and_a_route_showing_the_user_reads_it_by_key(api_client, db):
    warm(lambda: api_client.get("/api/auth/me"))
    with sent(db) as seen:
        tenant_only = api_client.get("/api/companies")
    assert tenant_only.status_code == 200 and seen[0] == "SELECT api_tokens" and "SELECT users" not in seen
    with sent(db) as seen:
        me = api_client.get("/api/auth/me")
    assert me.status_code == 200 and me.get_json()["email"] == api_client.email
    assert seen == ["SELECT api_tokens", "SELECT users"]


def test_an_ignored_webhook_event_is_stored_in_one_insert_and_one_commit(client, db):
    event_body = {"id": "evt_rt_1", "object": "event", "type": "customer.created", "created": int(time.time()),
                  "data": {"object": {"id": "cus_x", "object": "customer"}}}
    payload = json.dumps(event_body).encode()
    with sent(db) as seen:
        resp = client.post("/api/billing/webhook", data=payload,
                           headers={"Stripe-Signature": signature_header(payload, SECRET),
                                    "Content-Type": "application/json"})
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "ignored"
    assert seen == ["INSERT billing_events", "COMMIT"]
    again = client.post("/api/billing/webhook", data=payload,
                        headers={"Stripe-Signature": signature_header(payload, SECRET),
                                 "Content-Type": "application/json"})
    assert again.status_code == 200 and again.get_json()["outcome"] == "duplicate"


def test_an_ignored_webhook_event_is_stored_on_a_connection_of_its_own_without_a_session_transaction(client, db):
    """The request's session has nothing to do with an ignored event: it never begins a transaction for it."""
    begun: list[object] = []

    def on_begin(*args: object) -> None:
        begun.append(args)

    session = db.session()  # the test's app context holds it, so the request uses this one
    event.listen(session, "after_begin", on_begin)
    payload = json.dumps({"id": "evt_rt_own", "object": "event", "type": "customer.created",
                          "created": int(time.time()), "data": {"object": {"id": "cus_x"}}}).encode()
    try:
        with sent(db) as seen:
            resp = client.post("/api/billing/webhook", data=payload,
                               headers={"Stripe-Signature": signature_header(payload, SECRET),
                                        "Content-Type": "application/json"})
    finally:
        event.remove(session, "after_begin", on_begin)
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "ignored"
    assert seen == ["INSERT billing_events", "COMMIT"] and begun == []


def test_an_applied_subscription_event_locks_and_loads_the_entitlement_in_one_statement(
        client, api_client, db, monkeypatch):
    """The tenant's read lease is taken in the event's INSERT transaction; after the read, one UPDATE … RETURNING
    locks the tenant named in the subscription's metadata and loads its row (no SELECT before or after the lock),
    then the event's writes, the lease's release (one statement: the row is locked already) and one COMMIT."""
    from webapp.billing.catalog import SELLABLE_KEYS
    from webapp.billing.stripe_gateway import StripeGateway

    client.application.extensions["stripe_price_ids"] = {key: f"price_{key}" for key in SELLABLE_KEYS}
    sub = {"id": "sub_rt", "object": "subscription", "customer": "cus_rt", "status": "active",
           "metadata": {"tenant_id": api_client.tenant_id}, "cancel_at_period_end": False, "trial_end": None,
           "items": {"data": [{"price": {"id": "price_pro"}, "quantity": 1,
                               "current_period_end": int(time.time()) + 86400}]}}
    monkeypatch.setattr(StripeGateway, "retrieve_subscription", lambda self, sub_id: sub)  # Stripe's answer

    created = int(time.time())  # one second for both events: a later one would also move last_event_created

    def deliver(event_id: str) -> Any:
        payload = json.dumps({"id": event_id, "object": "event", "type": "customer.subscription.updated",
                              "created": created, "data": {"object": sub}}).encode()
        return client.post("/api/billing/webhook", data=payload,
                           headers={"Stripe-Signature": signature_header(payload, SECRET),
                                    "Content-Type": "application/json"})

    assert deliver("evt_rt_sub_1").get_json()["outcome"] == "applied"  # free → pro: the changes are audited
    with sent(db) as seen:
        resp = deliver("evt_rt_sub_2")  # the same state again: nothing changes but the read's time
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "applied"
    assert seen == ["UPDATE entitlements", "INSERT billing_events", "COMMIT",  # the tenant's read lease, the event
                    "UPDATE entitlements", "UPDATE billing_notices", "UPDATE billing_previews",
                    "UPDATE billing_events",  # waiting events this read covers (none here)
                    "UPDATE entitlements",  # the read's result (the ORM's flush)
                    "UPDATE entitlements",  # the lease freed (nothing queued), under the read's own row lock
                    "UPDATE billing_events", "COMMIT"]
    db.session.expire_all()
    from webapp.models import Entitlement
    assert db.session.get(Entitlement, api_client.tenant_id).plan == "pro"


def test_a_subscription_event_queued_behind_another_read_costs_one_transaction_and_no_stripe_call(
        client, api_client, db, monkeypatch):
    """While another delivery holds the tenant's read lease: the lease's UPDATE (it finds it held), the event
    stored queued, COMMIT; the holder's next read applies it."""
    from webapp.billing import sync_lease
    from webapp.billing.stripe_gateway import StripeGateway

    calls: list[str] = []
    monkeypatch.setattr(StripeGateway, "retrieve_subscription", lambda self, sub_id: calls.append(sub_id))
    sub = {"id": "sub_rt_q", "object": "subscription", "customer": "cus_rt_q", "status": "active",
           "metadata": {"tenant_id": api_client.tenant_id}, "items": {"data": []}}
    assert sync_lease.take(api_client.tenant_id) is not None
    payload = json.dumps({"id": "evt_rt_queued", "object": "event", "type": "customer.subscription.updated",
                          "created": int(time.time()), "data": {"object": sub}}).encode()
    with sent(db) as seen:
        resp = client.post("/api/billing/webhook", data=payload,
                           headers={"Stripe-Signature": signature_header(payload, SECRET),
                                    "Content-Type": "application/json"})
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "queued"
    assert seen == ["UPDATE entitlements", "INSERT billing_events", "COMMIT"] and calls == []
