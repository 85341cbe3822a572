"""The proposer's history counters: posting counts into posting_history in its own unit of work, and the
counts always equal an aggregation of the posted ledger (the proposer's old way of reading its history)."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select, update

from tests.conftest import signup_api_client
from tests.factories import set_plan, usage_row
from webapp.bookkeeping import posting, proposals, rules
from webapp.bookkeeping.history import posted_history
from webapp.models import Account, JournalEntry, PostingHistory, Transaction

Counts = dict[tuple[str, str, str, str], int]  # (company_id, kind, key, account_id) → posted entries


def ledger_counts(db) -> Counts:
    """What the proposer used to aggregate on every proposal: posted entries per company, key and account."""
    counts: Counts = {}
    for kind, column in (("counterparty", Transaction.counterparty_key), ("pattern", Transaction.pattern)):
        stmt = (select(Transaction.company_id, column, JournalEntry.account_id, func.count())
                .join(JournalEntry, JournalEntry.txn_id == Transaction.id)
                .where(JournalEntry.status == "posted", column.is_not(None), column != "")
                .group_by(Transaction.company_id, column, JournalEntry.account_id))
        for company_id, key, account_id, n in db.session.execute(stmt):
            counts[(company_id, kind, key, account_id)] = n
    return counts


def counters(db) -> Counts:
    db.session.expire_all()
    return {(r.company_id, r.kind, r.match_key, r.account_id): r.n for r in db.session.scalars(select(PostingHistory))}


def account_id(db, company_id: str, code: str) -> str:
    return db.session.scalar(select(Account.id).where(Account.company_id == company_id, Account.code == code))


def import_rows(api, rows: list[tuple[str, str, str | None]], company_id: str | None = None) -> list[str]:
    """Import (client id, description, counterparty) rows, money out; return the client ids."""
    body: dict[str, object] = {"transactions": [
        {"id": cid, "date": "2025-01-10", "description": desc, "amount_cents": -1500,
         **({"counterparty": cp} if cp else {})} for cid, desc, cp in rows]}
    if company_id:
        body["company_id"] = company_id
    resp = api.post("/api/transactions", json=body)
    assert resp.status_code in (200, 201), resp.get_json()
    return [cid for cid, _, _ in rows]


def propose(api, txn_ids: list[str]) -> list[str]:
    resp = api.post("/api/post/propose", json={"txn_ids": txn_ids})
    assert resp.status_code == 200, resp.get_json()
    return [e["je_id"] for e in resp.get_json()["data"]]


def commit(api, je_ids: list[str]) -> None:
    resp = api.post("/api/post/commit", json={"je_ids": je_ids})
    assert resp.status_code == 200, resp.get_json()


def two_companies_with_history(api, db) -> tuple[str, str]:
    """Company A posts Staples three times (two to 6300, one parked in 6999) and an unnamed ZQX rent, one
    of them alone and the rest in bulk, and leaves one proposal unposted; company B posts Staples twice,
    in bulk, to 6500."""
    set_plan(api.tenant_id, "firm")
    company_a = api.get("/api/companies").get_json()["data"][0]["id"]
    company_b = api.post("/api/companies", json={"name": "Second Books"}).get_json()["id"]
    a_txns = import_rows(api, [("a1", "Staples order 1", "Staples"), ("a2", "Staples order 2", "STAPLES"),
                               ("a3", "Staples order 3", "Staples"), ("a4", "ZQX MONTHLY 2024-11 #1", None),
                               ("a5", "Staples order 5", "Staples")], company_id=company_a)
    a_entries = propose(api, a_txns)
    for je in a_entries[:2]:
        proposals.reassign_account(api.tenant_id, je, "6300")
    proposals.reassign_account(api.tenant_id, a_entries[2], "6999")
    proposals.reassign_account(api.tenant_id, a_entries[3], "6400")
    commit(api, [a_entries[0]])
    commit(api, a_entries[1:4])  # a5 stays proposed: not posted, not counted
    b_txns = import_rows(api, [("b1", "Staples order 1", "Staples"), ("b2", "Staples order 9", "Staples")],
                         company_id=company_b)
    b_entries = propose(api, b_txns)
    for je in b_entries:
        proposals.reassign_account(api.tenant_id, je, "6500")
    commit(api, b_entries)
    return company_a, company_b


def test_counters_equal_the_posted_ledger_after_single_and_bulk_commits_in_two_companies(api_client, db, clock):
    company_a, company_b = two_companies_with_history(api_client, db)
    counted = counters(db)
    assert counted == ledger_counts(db)
    staples = rules.counterparty_key("Staples")
    assert counted[(company_a, "counterparty", staples, account_id(db, company_a, "6300"))] == 2
    assert counted[(company_a, "counterparty", staples, account_id(db, company_a, "6999"))] == 1
    assert sum(n for (c, kind, key, _), n in counted.items()
               if (c, kind, key) == (company_b, "counterparty", staples)) == 2
    assert not any(kind == "counterparty" and key == "" for _, kind, key, _ in counted)  # unnamed: no key


def test_the_proposers_history_from_counters_is_what_the_ledger_aggregation_gives(api_client, db, clock):
    company_a, company_b = two_companies_with_history(api_client, db)
    import_rows(api_client, [("a9", "Staples order 9", "Staples"), ("a10", "ZQX MONTHLY 2024-12 #2", None)],
                company_id=company_a)
    import_rows(api_client, [("b9", "Staples order 19", "Staples")], company_id=company_b)
    txns = list(db.session.scalars(select(Transaction).where(Transaction.client_id.in_(["a9", "a10", "b9"]))))
    expected: dict[tuple[str, str, str], Counter[str]] = {}
    for (company_id, kind, key, account), n in ledger_counts(db).items():
        if any((t.company_id, kind) in ((company_id, "counterparty"), (company_id, "pattern"))
               and key == (t.counterparty_key if kind == "counterparty" else t.pattern) for t in txns):
            expected.setdefault((company_id, kind, key), Counter())[account] = n
    assert posted_history(txns) == expected and expected
    staples, rent = propose_answers(api_client, ["a9", "a10"])
    assert (staples["account"]["code"], staples["source"]) == ("6300", "history_counterparty")
    assert staples["reason"] == ("Same counterparty as 2 of 3 earlier posted transactions, "
                                 "posted to 6300 Office Supplies")  # the parked one still counts in the total
    assert (rent["account"]["code"], rent["source"]) == ("6400", "history_pattern")
    other = propose_answers(api_client, ["b9"])[0]  # company B's own history, not company A's 6300
    assert (other["account"]["code"], other["source"]) == ("6500", "history_counterparty")


def propose_answers(api, txn_ids: list[str]) -> list[dict]:
    resp = api.post("/api/post/propose", json={"txn_ids": txn_ids})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]


def test_a_refused_commit_counts_nothing(api_client, db, clock):
    set_plan(api_client.tenant_id, "firm")
    first, second = propose(api_client, import_rows(api_client, [("t1", "Staples order 1", "Staples"),
                                                                 ("t2", "Staples order 2", "Staples")]))
    commit(api_client, [first])
    before = counters(db)
    resp = api_client.post("/api/post/commit", json={"je_ids": [first, second]})
    assert resp.status_code == 409 and resp.get_json()["code"] == "ALREADY_POSTED"
    assert counters(db) == before == ledger_counts(db)


def test_a_commit_finding_an_entry_posted_meanwhile_is_409_and_the_counts_its_statement_wrote_go_with_it(
        api_client, db, clock, monkeypatch):
    """The entries are loaded proposed; one is posted before the UPDATE. On PostgreSQL the UPDATE and the counting
    are one statement, which counts both entries whatever the UPDATE finds: the refusal's rollback takes them."""
    set_plan(api_client.tenant_id, "firm")
    first, second = propose(api_client, import_rows(api_client, [("t1", "Staples order 1", "Staples"),
                                                                 ("t2", "Staples order 2", "Staples")]))
    before = counters(db)
    load_entries = posting.load_entries

    def posted_meanwhile(*args, **kwargs):  # runs after the load, before the UPDATE
        loaded = load_entries(*args, **kwargs)
        db.session.execute(update(JournalEntry).where(JournalEntry.id == first)
                           .values(status="posted", posted_at=clock.now()))
        return loaded

    monkeypatch.setattr(posting, "load_entries", posted_meanwhile)
    resp = api_client.post("/api/post/commit", json={"je_ids": [first, second]})
    assert resp.status_code == 409 and resp.get_json() == {
        "code": "ALREADY_POSTED", "message": "Some entries were posted meanwhile; nothing was posted.",
        "ids": [first, second]}
    assert counters(db) == before == {}
    assert set(db.session.scalars(select(JournalEntry.status))) == {"proposed"}
    usage = usage_row(api_client.tenant_id, "2025-01")
    assert usage is not None and usage.tx_posted == 0
    monkeypatch.undo()
    commit(api_client, [first, second])  # nothing was held back: both post, and count, now
    assert counters(db) == ledger_counts(db) and sum(counters(db).values()) == 4


def test_a_commit_of_entries_filed_under_no_key_posts_them_and_counts_nothing(api_client, db, clock):
    set_plan(api_client.tenant_id, "firm")
    entries = propose(api_client, import_rows(api_client, [("t1", "12345", None), ("t2", "2025-01 #7", None)]))
    commit(api_client, entries)
    assert set(db.session.scalars(select(JournalEntry.status))) == {"posted"} and counters(db) == {}


def test_a_workspace_commit_with_a_chosen_account_counts_the_chosen_account(api_client, db, clock):
    set_plan(api_client.tenant_id, "firm")
    je = propose(api_client, import_rows(api_client, [("t1", "Staples order 1", "Staples")]))[0]
    posted = proposals.commit_with_accounts(api_client.tenant_id, [je], {je: "6900"})
    assert posted[0].account.code == "6900"
    counted = counters(db)
    assert counted == ledger_counts(db)
    assert {account for (_, kind, _, account) in counted if kind == "counterparty"} == {posted[0].account_id}


def test_another_tenants_counters_are_never_read(client, db, clock):
    a, b = signup_api_client(client), signup_api_client(client)
    set_plan(a.tenant_id, "firm")
    je = propose(a, import_rows(a, [("t1", "Staples order 1", "Staples")]))[0]
    proposals.reassign_account(a.tenant_id, je, "6900")
    commit(a, [je])
    entry = propose_answers(b, import_rows(b, [("t1", "Staples order 1", "Staples")]))[0]
    assert entry["source"] == "keyword" and entry["account"]["code"] != "6900"
