"""The workspace and billing pages through the test client: forms without JavaScript, htmx fragments, the gate."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import webapp.clock
from tests.conftest import csrf_token_from, signup_api_client
from tests.factories import daily_analyzed, set_plan, set_usage, usage_row
from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT, STARTER
from webapp.models import Company, JournalEntry, Transaction

CSV = "date,description,amount,counterparty,id\n2025-01-02,Staples order 1042,-84.20,Staples,b1\n" \
      "2025-01-03,Adobe Creative Cloud,-59.99,Adobe,b2\n"
HTMX = {"HX-Request": "true"}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def web(logged_in):
    """The logged-in browser session with the workspace's CSRF token."""
    landing = logged_in.client.get("/app")
    logged_in.page = landing.headers["Location"]  # /app/companies/<id>: the first company's workspace
    logged_in.at = lambda action: f"{logged_in.page}/{action}"
    logged_in.token = csrf_token_from(logged_in.client.get(logged_in.page).get_data(as_text=True))
    return logged_in


def post(web, path, data=None, htmx=False, **kw):
    return web.client.post(path, data={"csrf_token": web.token, **(data or {})},
                           headers=HTMX if htmx else {}, **kw)


def imported(web) -> list[str]:
    resp = post(web, web.at("import"), {"csv_text": CSV})
    assert resp.status_code == 303
    return [t.id for t in web.client.application.extensions["sqlalchemy"].session.scalars(
        select(Transaction).order_by(Transaction.date))]


def test_root_sends_a_logged_in_user_to_the_workspace_with_title_and_meter(web):
    resp = web.client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/app"
    assert web.page.startswith("/app/companies/co_")
    html = web.client.get(web.page).get_data(as_text=True)
    assert "<title>" in html and "Workspace" in html and 'id="usage-meter"' in html
    assert f"0 / {FREE_DAILY_ANALYZE_LIMIT}" in html


def test_csv_upload_without_javascript_imports_and_redirects_back(web, db):
    resp = post(web, web.at("import"), {"csv_file": (io.BytesIO(CSV.encode()), "bank.csv")},
                content_type="multipart/form-data")
    assert resp.status_code == 303 and resp.headers["Location"] == web.page
    page = web.client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Imported 2 new transactions." in page and "Staples order 1042" in page
    assert count(db, Transaction) == 2


def test_bad_paste_shows_the_error_next_to_the_box_and_imports_nothing(web, db):
    resp = post(web, web.at("import"), {"csv_text": "date,description,amount\n2025-01-02,Staples,twelve"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and 'id="csv-text-error"' in html and "line 2" in html
    assert 'aria-describedby="csv-text-error"' in html and "2025-01-02,Staples,twelve" in html
    assert count(db, Transaction) == 0


def test_empty_import_over_htmx_names_its_target_and_marks_the_field(web):
    resp = post(web, web.at("import"), {}, htmx=True)
    assert resp.status_code == 400 and resp.headers["HX-Retarget"] == "#workspace"
    html = resp.get_data(as_text=True)
    assert re.sub(r'^\s*<title>[^<]*</title>\s*', '', html).startswith('<div id="workspace"')
    assert 'id="csv-text-error"' in html and "<html" not in html


def test_htmx_propose_is_counted_by_the_gate_and_updates_the_header_meter(web, db, user):
    txns = imported(web)
    resp = post(web, web.at("propose"), {"txn_ids": txns}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Proposed 2 entries: check them under Proposals." in html
    assert 'id="usage-meter"' in html and 'hx-swap-oob="true"' in html and f"2 / {FREE_DAILY_ANALYZE_LIMIT}" in html
    assert daily_analyzed(user.tenant_id, webapp.clock.now().date()) == 2
    assert count(db, JournalEntry) == 2


def test_propose_past_the_free_cap_is_a_429_modal_with_retry_after_and_nothing_proposed(web, db, user):
    txns = imported(web)
    set_usage(user.tenant_id, day_analyzed=FREE_DAILY_ANALYZE_LIMIT)
    resp = post(web, web.at("propose"), {"txn_id": txns[0]}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 429 and resp.headers["HX-Retarget"] == "#modal" and int(resp.headers["Retry-After"]) > 0
    assert 'data-code="FREE_CAP_EXCEEDED"' in html and 'aria-modal="true"' in html and "Resets in" in html
    assert "/billing/checkout/starter" in html and count(db, JournalEntry) == 0


def test_commit_on_free_without_javascript_is_a_402_page_offering_the_plans(web, db):
    txns = imported(web)
    post(web, web.at("propose"), {"txn_ids": txns})
    je = db.session.scalars(select(JournalEntry.id)).first()
    resp = post(web, web.at("commit"), {"je_id": je})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 402 and "<html" in html and 'data-code="SUBSCRIPTION_REQUIRED"' in html
    assert "Choose Starter" in html and "Choose Pro" in html


def test_starter_commits_one_then_the_301st_is_a_402_modal_with_the_next_plan(web, db, user):
    set_plan(user.tenant_id, "starter")
    txns = imported(web)
    post(web, web.at("propose"), {"txn_ids": txns})
    first, second = db.session.scalars(select(JournalEntry.id).order_by(JournalEntry.date)).all()
    set_usage(user.tenant_id, posted=STARTER.tx_cap - 1)
    ok = post(web, web.at("commit"), {"je_id": first}, htmx=True)
    assert ok.status_code == 200 and "Posted 1 entry" in ok.get_data(as_text=True)
    assert "You have posted 300 of the 300" in ok.get_data(as_text=True)  # the nudge, out of band
    resp = post(web, web.at("commit"), {"je_id": second}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 402 and 'data-code="MONTHLY_CAP_EXCEEDED"' in html
    assert '<p class="offer-name"><strong>Pro</strong>' in html and "<strong>Firm</strong>" not in html
    assert 'href="/billing/change/pro">Upgrade to Pro</a>' in html  # previewed and confirmed in the app
    assert "Change plan in the billing portal" not in html
    assert db.session.get(JournalEntry, second).status == "proposed"


@pytest.mark.parametrize(("posted", "nudged"), [(239, False), (240, True)])
def test_header_nudges_towards_the_next_plan_from_80_percent_of_the_cap(web, user, posted, nudged):
    set_plan(user.tenant_id, "starter")  # cap 300: 80 % is 240
    set_usage(user.tenant_id, posted=posted)
    html = web.client.get(web.page).get_data(as_text=True)
    assert ('class="nudge"' in html) is nudged
    if nudged:
        assert "You have posted 240 of the 300 transactions your plan allows this month (80 %)" in html


def test_a_selection_on_starter_is_refused_as_bulk_approve(web, db, user):
    set_plan(user.tenant_id, "starter")
    post(web, web.at("propose"), {"txn_ids": imported(web)})
    ids = db.session.scalars(select(JournalEntry.id)).all()
    resp = post(web, web.at("commit"), {"je_ids": ids}, htmx=True)
    assert resp.status_code == 402 and 'data-code="BULK_APPROVE_NOT_INCLUDED"' in resp.get_data(as_text=True)


def test_nothing_ticked_is_a_field_error_not_a_gate_call(web):
    imported(web)
    resp = post(web, web.at("propose"), {}, htmx=True)
    assert resp.status_code == 400 and 'id="txn-ids-error"' in resp.get_data(as_text=True)


def test_changing_a_proposals_account_before_commit(web, db):
    post(web, web.at("propose"), {"txn_ids": imported(web)})
    je = db.session.scalars(select(JournalEntry).order_by(JournalEntry.date)).first()
    resp = post(web, web.at(f"entries/{je.id}/account"), {f"account_{je.id}": "6900"})
    assert resp.status_code == 303
    db.session.expire_all()
    entry = db.session.get(JournalEntry, je.id)
    assert entry.account.code == "6900" and entry.confidence_pct == 100
    bad = post(web, web.at(f"entries/{je.id}/account"), {f"account_{je.id}": "1000"})
    assert bad.status_code == 400 and f'id="acct-{je.id}-error"' in bad.get_data(as_text=True)


def test_second_company_on_free_is_the_company_limit_modal_and_a_blank_name_a_field_error(web, db):
    here = web.page.rsplit("/", 1)[1]
    resp = post(web, "/app/companies", {"new_company_name": "Second Street Bakery", "company": here}, htmx=True)
    assert resp.status_code == 402 and 'data-code="COMPANY_LIMIT_REACHED"' in resp.get_data(as_text=True)
    blank = post(web, "/app/companies", {"new_company_name": "  ", "company": here})
    html = blank.get_data(as_text=True)
    assert blank.status_code == 400 and 'id="new-company-name-error"' in html
    assert "Company name is required" in html and "<details class=\"dropdown company-switcher\" open>" in html
    assert count(db, Company) == 1


def test_another_tenants_company_is_a_404_page(web, client):
    other = signup_api_client(client, email="other@example.com")
    company = other.get("/api/companies").get_json()["data"][0]["id"]
    resp = web.client.get(f"/app/companies/{company}")
    assert resp.status_code == 404 and "Page not found" in resp.get_data(as_text=True)
    resp = web.client.get(f"/app?company={company}")  # the old address
    assert resp.status_code == 404 and "Page not found" in resp.get_data(as_text=True)


def test_workspace_actions_need_the_csrf_token(web, db):
    resp = web.client.post(web.at("import"), data={"csv_text": CSV})
    assert resp.status_code == 400 and count(db, Transaction) == 0


def test_workspace_needs_a_login(client):
    resp = client.get("/app")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_status_fragment_polls_every_2s_while_activating_and_gives_up_after_60s(web, clock):
    since = int(clock.now().timestamp())
    polling = web.client.get(f"/billing?activating=1&since={since}", headers=HTMX).get_data(as_text=True)
    assert "Activating your subscription…" in polling and 'hx-trigger="load delay:2s"' in polling
    assert "<html" not in polling
    clock.advance(seconds=61)
    late = web.client.get(f"/billing?activating=1&since={since}", headers=HTMX).get_data(as_text=True)
    assert "hx-trigger" not in late and "taking longer than usual" in late


def test_activation_wait_works_without_javascript_and_its_timeout_names_only_what_exists(web, user, clock, app):
    since = int(clock.now().timestamp())
    waiting = web.client.get(f"/billing?activating=1&since={since}").get_data(as_text=True)
    assert "<noscript>" in waiting and "Check again" in waiting and "This updates by itself" not in waiting
    clock.advance(seconds=61)
    late = web.client.get(f"/billing?activating=1&since={since}").get_data(as_text=True)
    assert "taking longer than usual" in late and "Manage billing" not in late  # no billing account yet
    assert "write to" not in late
    app.config["SUPPORT_EMAIL"] = "help@books.example"
    late = web.client.get(f"/billing?activating=1&since={since}").get_data(as_text=True)
    assert 'href="mailto:help@books.example"' in late


def test_status_page_shows_trial_days_left_and_usage_meter(web, user, clock):
    ent = set_plan(user.tenant_id, "starter", status="trialing")
    ent.trial_end = clock.now() + timedelta(days=13, hours=12)
    webapp.extensions.db.session.commit()
    html = web.client.get("/billing").get_data(as_text=True)
    assert "Trial · 14 days left" in html and f'max="{STARTER.tx_cap}"' in html and "<meter" in html


def test_plan_picker_shows_a_bad_extra_companies_value_next_to_the_field(web):
    page = web.client.get("/billing/plans").get_data(as_text=True)
    assert "14-day free trial" in page and "Current plan" in page
    resp = post(web, "/billing/checkout/firm", {"addon_companies": "lots"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and 'id="addon-firm-error"' in html and 'value="lots"' in html


class TestRateLimitedModal:
    @pytest.fixture
    def app_overrides(self):
        return {"AUTH_RATE_LIMIT": "1 per minute"}

    def test_an_htmx_request_past_a_rate_limit_gets_a_modal_with_retry_after(self, client):
        form = {"email": "x@example.com", "password": "whatever1",
                "csrf_token": csrf_token_from(client.get("/login").get_data(as_text=True))}
        client.post("/login", data=form)
        resp = client.post("/login", data=form, headers=HTMX)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 429 and resp.headers["HX-Retarget"] == "#modal"
        assert "Too many requests" in html and "Try again in" in html and 'role="dialog"' in html


def bulk_csv(n: int) -> str:
    rows = [f"2025-01-{1 + i % 28:02d},Office supplies {i:03d},-{i + 1}.00,Staples,p{i:03d}" for i in range(n)]
    return "date,description,amount,counterparty,id\n" + "\n".join(rows) + "\n"


def test_workspace_pages_through_long_tables_and_clamps_bad_page_numbers(web):
    assert post(web, web.at("import"), {"csv_text": bulk_csv(230)}).status_code == 303

    first = web.client.get(web.page).get_data(as_text=True)
    assert first.count('name="txn_ids"') == 100
    assert "Transactions 1–100 of 230 (page 1 of 3)" in first and 'rel="next"' in first
    last = web.client.get(web.page + "?tx_page=3").get_data(as_text=True)
    assert last.count('name="txn_ids"') == 30 and "Transactions 201–230 of 230 (page 3 of 3)" in last
    assert web.client.get(web.page + "?tx_page=999").get_data(as_text=True).count('name="txn_ids"') == 30
    assert "(page 1 of 3)" in web.client.get(web.page + "?tx_page=-2").get_data(as_text=True)
    assert "(page 1 of 3)" in web.client.get(web.page + "?tx_page=abc").get_data(as_text=True)
    assert "(page 1 of 3)" in web.client.get(web.page + "?tx_page=²").get_data(as_text=True)


def test_an_action_taken_on_a_later_page_comes_back_to_that_page(web, db):
    assert post(web, web.at("import"), {"csv_text": bulk_csv(150)}).status_code == 303
    page2 = web.client.get(web.page + "?tx_page=2").get_data(as_text=True)
    assert '<input type="hidden" name="tx_page" value="2">' in page2
    txn = db.session.scalars(select(Transaction).order_by(Transaction.date, Transaction.id)).first()

    resp = post(web, web.at("propose"), {"txn_id": txn.id, "tx_page": "2"})
    assert resp.status_code == 303 and "tx_page=2" in resp.headers["Location"]
    fragment = post(web, web.at("propose"), {"txn_id": txn.id, "tx_page": "2"}, htmx=True).get_data(as_text=True)
    assert "(page 2 of 2)" in fragment


@pytest.mark.parametrize("since", ["", "99999999999999999999", "abc", "1", "²"])
def test_activating_page_without_a_usable_start_time_restarts_the_wait_from_now(web, clock, since):
    resp = web.client.get(f"/billing?activating=1&since={since}")
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(f"since={int(clock.now().timestamp())}")
    page = web.client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Activating your subscription…" in page


def test_htmx_poll_after_the_session_ended_redirects_the_whole_page_to_log_in(client):
    resp = client.get("/billing?activating=1&since=1", headers={**HTMX, "HX-Current-URL": "http://localhost/billing"})
    assert resp.status_code == 401 and resp.get_data() == b""
    assert resp.headers["HX-Redirect"] == "/login?next=%2Fbilling"


def test_page_needing_a_login_redirects_there_and_comes_back(client):
    resp = client.get("/billing/plans")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login?next=%2Fbilling%2Fplans"


def test_past_due_tenant_at_the_daily_cap_is_offered_a_card_update_not_another_plan(web, user):
    set_plan(user.tenant_id, "pro", status="past_due", active=False)
    set_usage(user.tenant_id, day_analyzed=FREE_DAILY_ANALYZE_LIMIT)
    txns = imported(web)
    resp = post(web, web.at("propose"), {"txn_id": txns[0]}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 429 and 'data-code="FREE_CAP_EXCEEDED"' in html
    assert "Update card" in html and "Your Pro plan is paused" in html
    assert "Choose Starter" not in html and "Change plan" not in html
    page = web.client.get(web.page).get_data(as_text=True)
    assert "Your Pro plan is paused until your card is updated." in page and "Update your card" in page


@pytest.mark.parametrize("status", ["past_due", "unpaid"])
def test_every_paywall_of_a_failed_payment_points_to_the_card_never_to_upgrading_or_midnight(web, user, status):
    set_plan(user.tenant_id, "pro", status=status, active=False)
    set_usage(user.tenant_id, day_analyzed=FREE_DAILY_ANALYZE_LIMIT)
    txns = imported(web)
    for htmx in (True, False):  # the modal, and the same content as a page without JavaScript
        html = post(web, web.at("propose"), {"txn_id": txns[0]}, htmx=htmx).get_data(as_text=True)
        assert "Payment needed" in html and "Your Pro plan is paused" in html and "Update card" in html
        for word in ("midnight", "pgrade", "Resets in", "Compare all plans", "Choose "):
            assert word not in html, word
    api = user.post("/api/post/propose", json={"txn_ids": [txns[0]]}).get_json()
    assert api["code"] == "FREE_CAP_EXCEEDED" and "midnight" not in api["message"]
    assert "update your card" in api["message"] and api["portal_url"] == "/api/billing/portal"
    commit = post(web, web.at("commit"), {"je_id": "je_nope"}, htmx=True).get_data(as_text=True)
    assert "Payment needed" in commit and "Update card" in commit and "pgrade" not in commit


def proposals_on_starter(web, db, user) -> list[JournalEntry]:
    """Both sample rows proposed, the tenant on starter; the entries, oldest first."""
    set_plan(user.tenant_id, "starter")
    post(web, web.at("propose"), {"txn_ids": imported(web)})
    return db.session.scalars(select(JournalEntry).order_by(JournalEntry.date)).all()


def form_of(web, je_id: str, **fields) -> dict:
    """What the Commit form sends for one row's button: every row's account select, as the browser does."""
    html = web.client.get(web.page).get_data(as_text=True)
    selects = dict(re.findall(r'<select id="acct-[^"]+" name="(account_[^"]+)".*?<option value="([^"]+)"[^>]* selected',
                              html, re.S))
    return {**selects, "je_id": je_id, **fields}


def test_commit_posts_the_account_picked_in_the_row_without_pressing_set(web, db, user, clock):
    staples, adobe = proposals_on_starter(web, db, user)
    assert staples.account.code == "6300"
    resp = post(web, web.at("commit"), form_of(web, staples.id, **{f"account_{staples.id}": "6900"}), htmx=True)
    assert resp.status_code == 200 and "Posted 1 entry" in resp.get_data(as_text=True)
    db.session.expire_all()
    posted = db.session.get(JournalEntry, staples.id)
    assert posted.status == "posted" and posted.account.code == "6900" and posted.source == "manual"
    assert [line.account.code for line in posted.lines] == ["1000", "6900"]
    assert db.session.get(JournalEntry, adobe.id).status == "proposed"
    assert usage_row(user.tenant_id, "2025-01").tx_posted == 1


def test_commit_with_the_proposed_account_unchanged_keeps_the_proposers_reason(web, db, user):
    staples, _ = proposals_on_starter(web, db, user)
    assert post(web, web.at("commit"), form_of(web, staples.id)).status_code == 303
    db.session.expire_all()
    posted = db.session.get(JournalEntry, staples.id)
    assert posted.status == "posted" and posted.account.code == "6300" and posted.source != "manual"


@pytest.mark.parametrize("code", ["1000", "9999"])
def test_commit_with_an_account_not_in_the_chart_is_a_field_error_and_posts_and_counts_nothing(web, db, user, clock,
                                                                                               code):
    staples, _ = proposals_on_starter(web, db, user)
    resp = post(web, web.at("commit"), form_of(web, staples.id, **{f"account_{staples.id}": code}), htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and resp.headers["HX-Retarget"] == "#workspace"
    assert f'id="acct-{staples.id}-error"' in html and f'aria-describedby="acct-{staples.id}-error"' in html
    db.session.expire_all()
    entry = db.session.get(JournalEntry, staples.id)
    assert entry.status == "proposed" and entry.account.code == "6300"
    assert usage_row(user.tenant_id, "2025-01").tx_posted == 0


def test_commit_selected_applies_each_ticked_rows_account_and_only_theirs(web, db, user):
    staples, adobe = proposals_on_starter(web, db, user)
    set_plan(user.tenant_id, "pro")
    form = form_of(web, "", **{f"account_{staples.id}": "6900", f"account_{adobe.id}": "6600"})
    del form["je_id"]
    resp = web.client.post(web.at("commit"), data={"csrf_token": web.token, **form, "je_ids": [staples.id]})
    assert resp.status_code == 303
    db.session.expire_all()
    assert db.session.get(JournalEntry, staples.id).account.code == "6900"
    assert db.session.get(JournalEntry, adobe.id).account.code == "6500"  # not committed, not changed


def test_a_commit_refused_as_already_posted_refreshes_the_stale_workspace_out_of_band(web, db, user, client):
    staples, adobe = proposals_on_starter(web, db, user)
    assert post(web, web.at("commit"), {"je_id": staples.id}).status_code == 303  # "the other tab"
    resp = post(web, web.at("commit"), {"je_id": staples.id}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409 and resp.headers["HX-Retarget"] == "#modal"
    assert 'data-code="ALREADY_POSTED"' in html
    assert re.search(r'<div id="workspace" class="workspace" data-company="co_\w+" hx-swap-oob="true">', html)
    assert f'name="je_id" value="{staples.id}"' not in html and f'name="je_id" value="{adobe.id}"' in html
    assert html.count('id="usage-meter"') == 1  # and the header meter, as on every htmx answer


def test_a_commit_of_a_replaced_proposal_is_404_with_the_workspace_refreshed(web, db, user):
    staples, _ = proposals_on_starter(web, db, user)
    old_id = staples.id
    post(web, web.at("propose"), {"txn_id": staples.txn_id})  # proposed again elsewhere: a new entry id
    resp = post(web, web.at("commit"), {"je_id": old_id}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404 and 'data-code="NOT_FOUND"' in html and 'hx-swap-oob="true"' in html
    assert f'value="{old_id}"' not in html.split('id="workspace"', 1)[1]


def test_other_workspace_errors_and_api_errors_carry_no_workspace(web, db, user, client):
    txns = imported(web)
    post(web, web.at("propose"), {"txn_ids": txns})
    je = db.session.scalars(select(JournalEntry.id)).first()
    paywall = post(web, web.at("commit"), {"je_id": je}, htmx=True)  # free: 402, nothing stale
    assert paywall.status_code == 402 and 'id="workspace"' not in paywall.get_data(as_text=True)
    set_plan(user.tenant_id, "starter")
    user.post("/api/post/commit", json={"je_ids": [je]})
    api = user.post("/api/post/commit", json={"je_ids": [je]}, headers=HTMX)
    assert api.status_code == 409 and 'id="workspace"' not in api.get_data(as_text=True)


def test_a_file_past_the_2_mb_csv_limit_gets_the_field_error_next_to_the_file_input(web, db):
    big = CSV.encode() + b"2025-01-04,Padding,-1.00,x,b3\n" * (int(2.5 * 1024 * 1024) // 31)
    assert 2.4 * 1024 * 1024 < len(big) < 2.6 * 1024 * 1024
    resp = post(web, web.at("import"), {"csv_file": (io.BytesIO(big), "big.csv")}, content_type="multipart/form-data",
                htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and resp.headers["HX-Retarget"] == "#workspace"
    assert 'id="csv-file-error"' in html and "must be at most 2048 KB" in html
    assert count(db, Transaction) == 0


def test_a_paste_larger_than_flasks_default_form_field_gets_the_imports_own_answer(web, db):
    rows = "".join(f"2025-01-{1 + i % 28:02d},Office supplies order {i:06d},-1.00,Staples\n" for i in range(12_000))
    assert len(rows) > 500_000  # Flask's default MAX_FORM_MEMORY_SIZE: a 413 before the view
    resp = post(web, web.at("import"), {"csv_text": "date,description,amount,counterparty\n" + rows},
                content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and 'id="csv-text-error"' in html and "at most 1000 rows" in html


def test_reimporting_the_same_statement_without_ids_adds_nothing_and_says_so(web, db):
    no_ids = "date,description,amount\n2025-01-02,Staples order 1042,-84.20\n2025-01-03,Adobe,-59.99\n"
    assert post(web, web.at("import"), {"csv_text": no_ids}).status_code == 303
    again = post(web, web.at("import"), {"csv_text": no_ids}, htmx=True).get_data(as_text=True)
    assert "Nothing new: all 2 transactions were imported before." in again
    more = post(web, web.at("import"), {"csv_text": no_ids + "2025-01-04,Uber,-9.00\n"}, htmx=True)
    assert "Imported 1 new transaction (2 already there)." in more.get_data(as_text=True)
    assert count(db, Transaction) == 3


def test_csv_errors_on_the_page_name_real_lines_and_no_internal_fields(web, db):
    text = ("id,date,description,amount\n"
            "b1,2025-01-02,Ok,1.00\n"
            "\n"
            'b2,2025-01-03,"Two\nlines",1.00\n'
            "b1,2025-01-04,Again,1.00\n"
            "b3,31/31/2025,,x\n")
    html = post(web, web.at("import"), {"csv_text": text}).get_data(as_text=True)
    assert "line 6 id: repeats line 2" in html
    assert "line 7 description: is required" in html and "line 7 date: is not a date like 2025-01-31" in html
    assert "line 7 amount: is not a money amount" in html and "transactions[" not in html
    assert count(db, Transaction) == 0


def test_a_windows_1252_upload_is_imported(web, db):
    text = "date,description,amount\n2025-01-02,Caf\u00e9 cr\u00e8me,-4.50\n"
    resp = post(web, web.at("import"), {"csv_file": (io.BytesIO(text.encode("cp1252")), "bank.csv")},
                content_type="multipart/form-data")
    assert resp.status_code == 303
    assert db.session.scalar(select(Transaction.description)) == "Caf\u00e9 cr\u00e8me"


def test_past_due_status_page_points_to_the_card_not_to_other_plans(web, user):
    set_plan(user.tenant_id, "pro", status="past_due", active=False)
    set_usage(user.tenant_id, day_analyzed=FREE_DAILY_ANALYZE_LIMIT)
    html = web.client.get("/billing").get_data(as_text=True)
    assert "Update your card above to get your Pro limits back." in html
    assert "paused until the payment goes through" in html and "see plans" not in html
