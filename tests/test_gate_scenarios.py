"""The runbook's Scenarios 2 and 3, month and day boundaries, and the free tier's paywall answers."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import daily_analyzed, import_txns, propose_all, set_plan, set_usage, usage_row
from webapp.billing.plans import FIRM, FREE_DAILY_ANALYZE_LIMIT, STARTER

MID_MARCH = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
CAP_KEYS = {"code", "message", "plan", "limit", "used", "resets_at", "upgrade_url"}
FREE_CAP_KEYS = {"code", "message", "limit", "used", "resets_at", "upgrade_url"}


def posted_count(api) -> int:
    return len(api.get("/api/ledger?limit=500").get_json()["data"])


def test_scenario_2_starter_posts_300_single_commits_and_the_301st_is_402_monthly_cap_exceeded(api_client, clock):
    clock.set(MID_MARCH)
    set_plan(api_client.tenant_id, "starter")
    # The runbook's je_1..je_301: the entries proposed for imported txn_1..txn_301, committed one by one.
    je_ids = propose_all(api_client, import_txns(api_client, STARTER.tx_cap + 1))

    for i, je in enumerate(je_ids[:STARTER.tx_cap], start=1):
        resp = api_client.post("/api/post/commit", json={"je_ids": [je]})
        assert resp.status_code == 200, (i, resp.get_json())
    resp = api_client.post("/api/post/commit", json={"je_ids": [je_ids[-1]]})

    assert resp.status_code == 402
    body = resp.get_json()
    assert CAP_KEYS <= set(body)
    assert body["code"] == "MONTHLY_CAP_EXCEEDED" and body["plan"] == "starter"
    assert body["limit"] == STARTER.tx_cap and body["used"] == STARTER.tx_cap
    assert body["requested"] == 1 and body["remaining"] == 0
    assert body["resets_at"] == "2025-04-01T00:00:00Z" and body["upgrade_url"] == "/billing/plans"
    assert usage_row(api_client.tenant_id, "2025-03").tx_posted == STARTER.tx_cap
    assert posted_count(api_client) == STARTER.tx_cap


def test_scenario_3_free_tier_proposes_50_singly_and_the_51st_is_429_with_retry_after(api_client, clock):
    clock.set(MID_MARCH)
    txn_ids = import_txns(api_client, FREE_DAILY_ANALYZE_LIMIT + 1)  # txn_1..txn_51

    for txn in txn_ids[:FREE_DAILY_ANALYZE_LIMIT]:
        resp = api_client.post("/api/post/propose", json={"txn_ids": [txn]})
        assert resp.status_code == 200, (txn, resp.get_json())
    resp = api_client.post("/api/post/propose", json={"txn_ids": [txn_ids[-1]]})

    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == str(12 * 3600)  # 12:00 → next UTC midnight
    body = resp.get_json()
    assert FREE_CAP_KEYS <= set(body)
    assert body["code"] == "FREE_CAP_EXCEEDED" and body["limit"] == FREE_DAILY_ANALYZE_LIMIT
    assert body["used"] == FREE_DAILY_ANALYZE_LIMIT and body["resets_at"] == "2025-03-11T00:00:00Z"
    assert body["upgrade_url"] == "/billing/plans"
    assert daily_analyzed(api_client.tenant_id, MID_MARCH.date()) == FREE_DAILY_ANALYZE_LIMIT
    assert usage_row(api_client.tenant_id, "2025-03").tx_analyzed == FREE_DAILY_ANALYZE_LIMIT


def test_cap_reached_on_jan_31_is_allowed_again_on_feb_1_without_any_rollover(api_client, clock):
    set_plan(api_client.tenant_id, "starter")  # clock: 2025-01-31 23:59 UTC
    je_ids = propose_all(api_client, import_txns(api_client, 2))
    set_usage(api_client.tenant_id, posted=STARTER.tx_cap - 1)
    assert api_client.post("/api/post/commit", json={"je_ids": [je_ids[0]]}).status_code == 200

    refused = api_client.post("/api/post/commit", json={"je_ids": [je_ids[1]]})
    assert refused.status_code == 402 and refused.get_json()["resets_at"] == "2025-02-01T00:00:00Z"

    clock.advance(minutes=1)
    assert api_client.post("/api/post/commit", json={"je_ids": [je_ids[1]]}).status_code == 200
    assert usage_row(api_client.tenant_id, "2025-01").tx_posted == STARTER.tx_cap
    assert usage_row(api_client.tenant_id, "2025-02").tx_posted == 1


def test_free_daily_cap_used_up_at_2359_resets_at_utc_midnight(api_client, clock):
    txn_ids = import_txns(api_client, FREE_DAILY_ANALYZE_LIMIT + 1)
    assert api_client.post("/api/post/propose", json={"txn_ids": txn_ids[:-1]}).status_code == 200

    refused = api_client.post("/api/post/propose", json={"txn_ids": [txn_ids[-1]]})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert refused.get_json()["resets_at"] == "2025-02-01T00:00:00Z"

    clock.advance(minutes=1)
    assert api_client.post("/api/post/propose", json={"txn_ids": [txn_ids[-1]]}).status_code == 200
    assert daily_analyzed(api_client.tenant_id, datetime(2025, 2, 1).date()) == 1
    assert usage_row(api_client.tenant_id, "2025-01").tx_analyzed == FREE_DAILY_ANALYZE_LIMIT
    assert usage_row(api_client.tenant_id, "2025-02").tx_analyzed == 1


def test_free_propose_of_more_than_the_daily_limit_at_once_is_429_says_split_and_counts_nothing(api_client, clock):
    txn_ids = import_txns(api_client, FREE_DAILY_ANALYZE_LIMIT + 1)
    resp = api_client.post("/api/post/propose", json={"txn_ids": txn_ids})
    body = resp.get_json()
    assert resp.status_code == 429 and body["used"] == 0
    assert body["requested"] == FREE_DAILY_ANALYZE_LIMIT + 1 and body["remaining"] == FREE_DAILY_ANALYZE_LIMIT
    assert f"at most {FREE_DAILY_ANALYZE_LIMIT} at a time" in body["message"]
    assert usage_row(api_client.tenant_id, "2025-01") is None


def test_free_propose_past_the_limit_says_how_many_remain_today(api_client, clock):
    txn_ids = import_txns(api_client, FREE_DAILY_ANALYZE_LIMIT)
    assert api_client.post("/api/post/propose", json={"txn_ids": txn_ids[:45]}).status_code == 200
    body = api_client.post("/api/post/propose", json={"txn_ids": txn_ids[40:]}).get_json()
    assert body["code"] == "FREE_CAP_EXCEEDED" and body["used"] == 45
    assert body["requested"] == 10 and body["remaining"] == 5 and "5 remain today" in body["message"]


def test_free_tier_commit_is_402_subscription_required(api_client, clock):
    je_ids = propose_all(api_client, import_txns(api_client, 1))
    resp = api_client.post("/api/post/commit", json={"je_ids": je_ids})
    assert resp.status_code == 402
    body = resp.get_json()
    assert {"code", "message", "upgrade_url"} <= set(body) and body["code"] == "SUBSCRIPTION_REQUIRED"
    assert "Retry-After" not in resp.headers


@pytest.mark.parametrize("status", ["past_due", "unpaid"])
def test_tenant_with_failed_payment_is_on_the_free_tier_and_commit_is_402_payment_required(api_client, clock, status):
    set_plan(api_client.tenant_id, "starter", status=status, active=False)
    txn_ids = import_txns(api_client, FREE_DAILY_ANALYZE_LIMIT + 1)
    je_ids = propose_all(api_client, txn_ids[:3])  # proposing within 50/day still works

    resp = api_client.post("/api/post/commit", json={"je_ids": je_ids[:1]})
    assert resp.status_code == 402
    body = resp.get_json()
    assert body["code"] == "PAYMENT_REQUIRED" and body["subscription_status"] == status
    assert body["portal_url"] == "/api/billing/portal"
    assert api_client.post("/api/post/propose", json={"txn_ids": txn_ids[3:-1]}).status_code == 200
    assert api_client.post("/api/post/propose", json={"txn_ids": txn_ids[-1:]}).status_code == 429
    assert usage_row(api_client.tenant_id, "2025-01").tx_posted == 0


def test_active_flag_with_past_due_status_is_still_the_free_tier(api_client, clock):
    set_plan(api_client.tenant_id, "pro", status="past_due", active=True)
    je_ids = propose_all(api_client, import_txns(api_client, 1))
    assert api_client.post("/api/post/commit", json={"je_ids": je_ids}).get_json()["code"] == "PAYMENT_REQUIRED"


def test_canceled_subscription_commit_is_402_subscription_required(api_client, clock):
    set_plan(api_client.tenant_id, "starter", status="canceled", active=False)
    je_ids = propose_all(api_client, import_txns(api_client, 1))
    assert api_client.post("/api/post/commit", json={"je_ids": je_ids}).get_json()["code"] == "SUBSCRIPTION_REQUIRED"


def test_trialing_tenant_posts_under_its_plan(api_client, clock):
    set_plan(api_client.tenant_id, "starter", status="trialing")
    je_ids = propose_all(api_client, import_txns(api_client, 1))
    assert api_client.post("/api/post/commit", json={"je_ids": je_ids}).status_code == 200


def test_paid_propose_is_unlimited_but_counted_per_transaction(api_client, clock):
    set_plan(api_client.tenant_id, "starter")
    propose_all(api_client, import_txns(api_client, FREE_DAILY_ANALYZE_LIMIT + 10))
    assert usage_row(api_client.tenant_id, "2025-01").tx_analyzed == FREE_DAILY_ANALYZE_LIMIT + 10
    assert daily_analyzed(api_client.tenant_id, datetime(2025, 1, 31).date()) == 0


def test_bulk_commit_on_starter_is_402_bulk_approve_not_included_and_posts_nothing(api_client, clock):
    set_plan(api_client.tenant_id, "starter")
    je_ids = propose_all(api_client, import_txns(api_client, 2))
    resp = api_client.post("/api/post/commit", json={"je_ids": je_ids})
    assert resp.status_code == 402 and resp.get_json()["code"] == "BULK_APPROVE_NOT_INCLUDED"
    assert posted_count(api_client) == 0 and usage_row(api_client.tenant_id, "2025-01").tx_posted == 0


def test_bulk_commit_on_pro_counts_each_entry(api_client, clock):
    set_plan(api_client.tenant_id, "pro")
    je_ids = propose_all(api_client, import_txns(api_client, 5))
    assert api_client.post("/api/post/commit", json={"je_ids": je_ids}).status_code == 200
    assert usage_row(api_client.tenant_id, "2025-01").tx_posted == 5


def test_bulk_commit_that_would_pass_the_cap_is_refused_whole(api_client, clock):
    set_plan(api_client.tenant_id, "pro")
    je_ids = propose_all(api_client, import_txns(api_client, 5))
    set_usage(api_client.tenant_id, posted=1997)
    resp = api_client.post("/api/post/commit", json={"je_ids": je_ids})
    assert resp.status_code == 402 and resp.get_json()["used"] == 1997
    assert posted_count(api_client) == 0 and usage_row(api_client.tenant_id, "2025-01").tx_posted == 1997


def test_htmx_request_gets_the_paywall_fragment_with_the_same_status(api_client, clock):
    je_ids = propose_all(api_client, import_txns(api_client, 1))
    resp = api_client.post("/api/post/commit", json={"je_ids": je_ids}, headers={"HX-Request": "true"})
    assert resp.status_code == 402 and resp.mimetype == "text/html"
    assert resp.headers["HX-Retarget"] == "#modal"
    html = resp.get_data(as_text=True)
    assert 'data-code="SUBSCRIPTION_REQUIRED"' in html and "needs a paid plan" in html


def test_usage_endpoint_shows_month_and_free_today(api_client, clock):
    propose_all(api_client, import_txns(api_client, 7))
    body = api_client.get("/api/usage").get_json()
    assert body["year_month"] == "2025-01" and body["tx_analyzed"] == 7 and body["tx_posted"] == 0
    assert body["tx_remaining"] == 0 and body["plan"] == "free"
    assert body["free_today"] == {"tx_analyzed": 7, "limit": FREE_DAILY_ANALYZE_LIMIT,
                                  "resets_at": "2025-02-01T00:00:00Z"}


def test_usage_endpoint_on_a_paid_plan_shows_what_is_left(api_client, clock):
    set_plan(api_client.tenant_id, "starter")
    je_ids = propose_all(api_client, import_txns(api_client, 1))
    api_client.post("/api/post/commit", json={"je_ids": je_ids})
    body = api_client.get("/api/usage").get_json()
    assert body["tx_posted"] == 1 and body["tx_remaining"] == STARTER.tx_cap - 1
    assert body["free_today"]["limit"] is None


def test_usage_needs_a_bearer_token(client):
    assert client.get("/api/usage").status_code == 401


def test_runbook_curl_bodies_without_a_json_content_type_propose_and_commit(api_client, clock):
    """The runbook's `curl -d '{…}'` sends application/x-www-form-urlencoded: the JSON body still counts."""
    set_plan(api_client.tenant_id, "starter")
    txn = import_txns(api_client, 1)[0]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    proposed = api_client.post("/api/post/propose", data=f'{{"txn_ids":["{txn}"]}}', headers=form)
    assert proposed.status_code == 200, proposed.get_json()
    je = proposed.get_json()["data"][0]["je_id"]
    committed = api_client.post("/api/post/commit", data=f'{{"je_ids":["{je}"]}}', headers=form)
    assert committed.status_code == 200, committed.get_json()
    assert usage_row(api_client.tenant_id, "2025-01").tx_posted == 1


def test_past_the_free_cap_an_unknown_transaction_is_404_and_counts_nothing(api_client, clock):
    clock.set(MID_MARCH)
    txn_ids = import_txns(api_client, FREE_DAILY_ANALYZE_LIMIT + 1)
    assert api_client.post("/api/post/propose", json={"txn_ids": txn_ids[:FREE_DAILY_ANALYZE_LIMIT]}).status_code == 200
    unknown = api_client.post("/api/post/propose", json={"txn_ids": ["no-such-txn"]})
    assert unknown.status_code == 404 and unknown.get_json()["ids"] == ["no-such-txn"]  # the ids are checked first
    over = api_client.post("/api/post/propose", json={"txn_ids": [txn_ids[-1]]})
    assert over.status_code == 429 and over.get_json()["used"] == FREE_DAILY_ANALYZE_LIMIT
    assert daily_analyzed(api_client.tenant_id, MID_MARCH.date()) == FREE_DAILY_ANALYZE_LIMIT
    assert usage_row(api_client.tenant_id, "2025-03").tx_analyzed == FREE_DAILY_ANALYZE_LIMIT


def test_the_plan_refuses_a_free_tier_commit_before_any_work_even_for_an_unknown_entry(api_client, clock):
    resp = api_client.post("/api/post/commit", json={"je_ids": ["je_nope"]})
    assert resp.status_code == 402 and resp.get_json()["code"] == "SUBSCRIPTION_REQUIRED"


def test_metered_work_that_ends_without_being_counted_is_an_error_not_free_work(app, api_client, clock):
    from webapp.metering.gate import Action
    from webapp.metering.guards import reserved, settle_pending

    set_plan(api_client.tenant_id, "firm")
    with app.test_request_context():
        with pytest.raises(RuntimeError, match="without settle_pending"):
            with reserved(api_client.tenant_id, Action.COMMIT, ["je_1"]):
                pass  # a service that forgot settle_pending()
        with pytest.raises(KeyError):  # a failing block drops its charge: nothing is left to count later
            with reserved(api_client.tenant_id, Action.COMMIT, ["je_1"]):
                raise KeyError("the work failed")
        settle_pending()  # nothing pending: counts nothing
    assert usage_row(api_client.tenant_id, clock.now().strftime("%Y-%m")) is None


@pytest.mark.parametrize("override", [None, "open until", "open without end", "past its until", "ended"])
def test_the_gates_one_read_decides_the_tier_as_the_whole_entitlement_does(api_client, clock, db, override):
    from dataclasses import replace
    from datetime import timedelta

    from webapp.billing import overrides
    from webapp.billing.services import effective, get_entitlement, read_effective
    from webapp.metering.gate import tier_of

    tenant = api_client.tenant_id
    set_plan(tenant, "starter", status="past_due")  # Stripe's state: a payment problem, so the free tier
    if override is not None:
        until = None if override == "open without end" else clock.now() + timedelta(hours=1)
        overrides.set_override(tenant, "firm", "active", until, actor="support", reason="goodwill")
    if override == "past its until":
        clock.advance(hours=2)
    if override == "ended":
        overrides.clear_override(tenant, actor="support", reason="done")
    db.session.expire_all()

    read = read_effective(tenant)
    tier = tier_of(read)

    whole = effective(get_entitlement(tenant))
    assert replace(read, override=None) == replace(whole, override=None) and tier == tier_of(whole)
    if override in ("open until", "open without end"):
        assert (tier.plan, tier.paid, tier.tx_cap, tier.subscription_status) == ("firm", True, FIRM.tx_cap, "active")
        assert tier.override_until == ("open" if override == "open without end" else "2025-02-01T00:59:00Z")
    else:
        assert (tier.plan, tier.paid, tier.subscription_status, tier.override_until) == (
            "free", False, "past_due", None)
        assert tier.payment_problem and tier.subscribed_plan == "starter"
