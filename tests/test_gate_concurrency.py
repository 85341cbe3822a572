"""The cap holds under concurrency: the check and the increment are one conditional UPDATE.

Runs on both backends. On PostgreSQL the 50 requests really overlap (row locks decide); on SQLite
the database lock serialises writers, which still proves no request passes on a stale read.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from flask import Flask

from tests.factories import import_txns, propose_all, set_plan, set_usage, usage_row
from webapp.billing.plans import STARTER
from webapp.extensions import db

PARALLEL = 50
ALREADY_POSTED = STARTER.tx_cap - 10


def commit_in_parallel(app: Flask, token: str, je_ids: list[str]) -> list[tuple[int, Any]]:
    """POST one single commit per thread, all released at once; each thread has its own client and session."""
    barrier = threading.Barrier(len(je_ids))
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def worker(je_id: str) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/post/commit", json={"je_ids": [je_id]}, headers={"Authorization": f"Bearer {token}"})
        with lock:
            results.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=worker, args=(je,)) for je in je_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_fifty_parallel_single_commits_at_290_posted_let_exactly_ten_through(app, api_client, clock):
    set_plan(api_client.tenant_id, "starter")
    je_ids = propose_all(api_client, import_txns(api_client, PARALLEL))
    set_usage(api_client.tenant_id, posted=ALREADY_POSTED)
    api_client.get("/api/usage")  # touch the token now, so the threads only race on the commit itself
    db.session.remove()

    results = commit_in_parallel(app, api_client.token, je_ids)

    statuses = Counter(status for status, _ in results)
    assert statuses == {200: STARTER.tx_cap - ALREADY_POSTED, 402: PARALLEL - (STARTER.tx_cap - ALREADY_POSTED)}
    assert {body["code"] for status, body in results if status == 402} == {"MONTHLY_CAP_EXCEEDED"}
    assert usage_row(api_client.tenant_id, "2025-01").tx_posted == STARTER.tx_cap
    ledger = api_client.get("/api/ledger?limit=500").get_json()["data"]
    assert len(ledger) == STARTER.tx_cap - ALREADY_POSTED


def test_parallel_first_commits_of_a_month_create_one_row_and_count_every_commit(app, api_client, clock):
    set_plan(api_client.tenant_id, "starter")
    je_ids = propose_all(api_client, import_txns(api_client, PARALLEL))
    clock.advance(minutes=1)  # 2025-02-01 00:00: no usage row for February yet
    api_client.get("/api/usage")
    db.session.remove()

    results = commit_in_parallel(app, api_client.token, je_ids)

    assert Counter(status for status, _ in results) == {200: PARALLEL}
    assert usage_row(api_client.tenant_id, "2025-02").tx_posted == PARALLEL


@pytest.mark.parametrize("app_overrides", [{"GATE_ENABLED": False}])
def test_gate_disabled_lets_a_free_tenant_commit_and_counts_nothing(api_client, clock):
    je_ids = propose_all(api_client, import_txns(api_client, 2))
    assert api_client.post("/api/post/commit", json={"je_ids": je_ids}).status_code == 200
    assert usage_row(api_client.tenant_id, "2025-01") is None
