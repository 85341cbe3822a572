"""The workspace names its company everywhere; rename, archive, the import preview, the free-cap offer and the
header meter refreshed out of band, through the test client."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.factories import set_plan, set_usage
from tests.test_workspace_pages import CSV, HTMX, imported, post, web  # noqa: F401  (web is a fixture)
from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT
from webapp.models import Company, JournalEntry, Transaction


def add_company(web, db, name: str) -> str:
    set_plan(web_tenant(db), "pro")
    resp = post(web, "/app/companies", {"new_company_name": name, "company": web.page.rsplit("/", 1)[1]})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return resp.headers["Location"]


def web_tenant(db) -> str:
    return db.session.scalar(select(Company.tenant_id))


def test_every_form_and_the_heading_name_the_company_of_the_url(web, db):
    imported(web)
    post(web, web.at("propose"), {"txn_ids": [t for t in db.session.scalars(select(Transaction.id))][:1]})
    second = add_company(web, db, "Second Street Bakery")
    html = web.client.get(second).get_data(as_text=True)
    company_id = second.rsplit("/", 1)[1]
    assert "<h1 id=\"company-heading\">Second Street Bakery" in html and "<title>Second Street Bakery" in html
    targets = re.findall(r'(?:action|hx-post)="([^"]+)"', html)
    workspace_targets = [t for t in targets if t.startswith("/app/")]
    assert workspace_targets and all(t.startswith(f"/app/companies/{company_id}/") or t == "/app/companies"
                                     for t in workspace_targets)
    assert f'name="company" value="{company_id}"' in html  # the add form says where it was sent from
    assert "Adobe Creative Cloud" not in html  # the first company's rows stay in the first company
    first = web.page
    assert "Adobe Creative Cloud" in web.client.get(first).get_data(as_text=True)


def test_adding_a_company_over_htmx_sends_the_whole_page_to_its_address(web, db):
    set_plan(web_tenant(db), "pro")
    resp = post(web, "/app/companies", {"new_company_name": "North Pier Cafe", "company": web.page.rsplit("/", 1)[1]},
                htmx=True)
    new_id = db.session.scalar(select(Company.id).where(Company.name == "North Pier Cafe"))
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == f"/app/companies/{new_id}"


def test_a_row_of_another_company_is_refused_and_nothing_is_proposed_or_posted(web, db):
    txn = imported(web)[0]
    second = add_company(web, db, "Second Street Bakery")
    resp = post(web, f"{second}/propose", {"txn_id": txn}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "belong to another company" in html
    assert db.session.scalar(select(func.count()).select_from(JournalEntry)) == 0
    post(web, web.at("propose"), {"txn_id": txn})
    je = db.session.scalar(select(JournalEntry.id))
    refused = post(web, f"{second}/commit", {"je_id": je})
    assert refused.status_code == 409
    assert db.session.get(JournalEntry, je).status == "proposed"


def test_old_workspace_address_lands_in_the_first_active_company(web, db):
    second = add_company(web, db, "Second Street Bakery")
    assert web.client.get("/app").headers["Location"] == web.page
    assert web.client.get(f"/app?company={second.rsplit('/', 1)[1]}&tx_page=2").headers["Location"] == \
        f"{second}?tx_page=2"
    assert post(web, web.at("archive")).status_code == 303
    assert web.client.get("/app").headers["Location"] == second


def test_rename_changes_heading_and_title_and_a_taken_name_is_a_field_error(web, db):
    resp = post(web, web.at("rename"), {"company_name": "Harbor Street Bakery"}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<title>Harbor Street Bakery · Workspace" in html
    assert '<h1 id="company-heading">Harbor Street Bakery' in html and "Renamed to Harbor Street Bakery." in html
    add_company(web, db, "Second")
    taken = post(web, web.at("rename"), {"company_name": "Second"}, htmx=True)
    html = taken.get_data(as_text=True)
    assert taken.status_code == 409 and 'id="company-name-error"' in html
    assert "Company name is already used by another of your companies" in html
    blank = post(web, web.at("rename"), {"company_name": " "}, htmx=True)
    assert blank.status_code == 400 and "Company name is required" in blank.get_data(as_text=True)


def test_an_archived_company_frees_its_slot_and_its_books_stay_readable_but_closed(web, db):
    imported(web)
    second = add_company(web, db, "Second")
    set_plan(web_tenant(db), "starter")  # one company allowed, two active: archiving one makes room
    assert post(web, web.at("archive")).status_code == 303
    page = web.client.get(web.page).get_data(as_text=True)
    assert "Archived on" in page and "Staples order 1042" in page and 'name="txn_ids"' not in page
    assert "Preview import" not in page and "Restore" in page
    refused = post(web, web.at("import"), {"csv_text": CSV}, htmx=True)
    assert refused.status_code == 409 and "is archived" in refused.get_data(as_text=True)
    restore = post(web, web.at("restore"), htmx=True)  # starter: its one place is taken by Second
    assert restore.status_code == 402 and 'data-code="COMPANY_LIMIT_REACHED"' in restore.get_data(as_text=True)


AMBIGUOUS = "Date,Description,Amount\n03/04/2025,Coffee beans,-4.50\n05/06/2025,Client payment,100.00\n"


def test_preview_shows_mapping_and_first_rows_and_asks_the_date_order_before_importing(web, db):
    page = post(web, web.at("import/preview"), {"csv_text": AMBIGUOUS})  # without JavaScript: the whole page
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)
    assert "every date in this file reads both ways" in page.get_data(as_text=True)
    asked = post(web, web.at("import/preview"), {"csv_text": AMBIGUOUS}, htmx=True).get_data(as_text=True)
    assert "every date in this file reads both ways" in asked and 'value="MM/DD/YYYY"' in asked
    assert "4 March 2025" in asked and "3 April 2025" in asked
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0
    statement = re.search(r'<textarea name="statement" hidden aria-hidden="true">(.*?)</textarea>', asked, re.S)[1]
    unanswered = post(web, web.at("import"), {"statement": statement, "source": "the pasted text"}, htmx=True)
    assert unanswered.status_code == 400 and 'id="date-format-error"' in unanswered.get_data(as_text=True)
    preview = post(web, web.at("import/preview"), {"statement": statement, "date_format": "DD/MM/YYYY"},
                   htmx=True).get_data(as_text=True)
    assert "Ready to import <strong>2 transactions</strong>" in preview and "2025-04-03" in preview
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0
    done = post(web, web.at("import"), {"statement": statement, "date_format": "DD/MM/YYYY"}, htmx=True)
    assert "Imported 2 new transactions." in done.get_data(as_text=True)
    assert sorted(d.isoformat() for d in db.session.scalars(select(Transaction.date))) == ["2025-04-03", "2025-06-05"]


def test_preview_offers_to_read_a_card_statements_positive_amounts_as_money_out(web, db):
    card = "Date,Description,Amount\n2025-01-03,ADOBE CREATIVE CLOUD,59.99\n"
    first = post(web, web.at("import/preview"), {"csv_text": card}, htmx=True).get_data(as_text=True)
    assert 'name="amount_sign" value="out_negative" checked' in first and "$59.99" in first
    turned = post(web, web.at("import/preview"), {"statement": card, "amount_sign": "out_positive"},
                  htmx=True).get_data(as_text=True)
    assert 'value="out_positive" checked' in turned and "-$59.99" in turned
    post(web, web.at("import"), {"statement": card, "amount_sign": "out_positive", "date_format": "YYYY-MM-DD"})
    assert db.session.scalar(select(Transaction.amount_cents)) == -5999


def test_free_cap_modal_offers_to_propose_the_first_n_that_remain(web, db, user):
    rows = "".join(f"2025-01-{i + 1:02d},Supplies {i},-{i + 1}.00\n" for i in range(6))
    assert post(web, web.at("import"), {"csv_text": "date,description,amount\n" + rows}).status_code == 303
    ids = db.session.scalars(select(Transaction.id).order_by(Transaction.date.desc())).all()
    set_usage(user.tenant_id, day_analyzed=FREE_DAILY_ANALYZE_LIMIT - 4)
    resp = post(web, web.at("propose"), {"txn_ids": ids}, htmx=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 429 and "Propose the first 4" in html
    offered = re.findall(r'<input type="hidden" name="txn_ids" value="([^"]+)">', html)
    assert offered == ids[:4]
    ok = post(web, web.at("propose"), {"txn_ids": offered}, htmx=True)
    assert ok.status_code == 200 and db.session.scalar(select(func.count()).select_from(JournalEntry)) == 4
    set_usage(user.tenant_id, day_analyzed=FREE_DAILY_ANALYZE_LIMIT)
    none_left = post(web, web.at("propose"), {"txn_ids": ids[4:]}, htmx=True).get_data(as_text=True)
    assert "Propose the first" not in none_left


def test_every_htmx_answer_refreshes_the_header_meter_out_of_band(web, user, clock):
    set_plan(user.tenant_id, "pro")
    set_usage(user.tenant_id, posted=62)
    set_plan(user.tenant_id, "pro", status="past_due", active=False)  # the payment failed meanwhile
    txn = imported(web)[0]
    resp = post(web, web.at("propose"), {"txn_id": txn}, htmx=True)
    assert 'id="usage-meter" class="header-meter" href="/billing" hx-swap-oob="true"' in resp.get_data(as_text=True)
    je = db_entry()
    refused = post(web, web.at("commit"), {"je_id": je}, htmx=True)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 402 and 'data-code="PAYMENT_REQUIRED"' in html
    meter = html.split('id="usage-meter"', 1)[1]
    assert 'hx-swap-oob="true"' in meter.split(">", 1)[0] and "Free" in meter and "62 / 2,000" not in meter
    since = int(clock.now().timestamp())
    set_plan(user.tenant_id, "starter", status="trialing")  # activation settles
    settled = web.client.get(f"/billing?activating=1&since={since}", headers=HTMX).get_data(as_text=True)
    assert "Activating" not in settled and 'hx-swap-oob="true"' in settled
    assert '<span class="plan-pill">Starter</span>' in settled
    assert 'id="usage-meter"' not in web.client.get("/billing").get_data(as_text=True).split("</header>")[1]


def db_entry() -> str:
    from webapp.extensions import db

    return db.session.scalar(select(JournalEntry.id))
