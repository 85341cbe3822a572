"""The workspace a bookkeeper uses every day (issue 17), walked in Chromium at 1280×800 and at 390×844.

One live app and emulator serve the whole module (each test signs up its own user); each test runs once
per viewport. The numbers in the test names are the findings of the issue.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.live import BillingEnv, import_sample, live_billing, propose, sign_up, tenant_of, use_free_analyses
from tests.factories import set_plan, set_usage
from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed: "
                             "browser tests skipped").expect
pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
COMPANY_URL = re.compile(r"/app/companies/(co_\w+)$")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingEnv]:
    """One live app and emulator for the module: the tests only sign up users, never reset anything."""
    tmp = tmp_path_factory.mktemp("workspace")
    with live_billing(f"sqlite:///{tmp / 'browser.db'}", tmp) as env:
        yield env


@dataclass
class Walk:
    """One test's browser tab at one viewport, with the user it signed up."""

    page: Page
    env: BillingEnv
    viewport: str
    email: str = ""

    @property
    def tenant(self) -> str:
        return tenant_of(self.email)

    def sign_up(self, company: str = "Fisher Design Studio") -> None:
        self.email = f"{self.viewport}-{time.monotonic_ns()}@example.com"
        sign_up(self.page, self.env.url, self.email, company=company)

    def company_id(self) -> str:
        match = COMPANY_URL.search(self.page.url)
        assert match, self.page.url
        return match[1]

    def fits(self, where: str) -> None:
        """No horizontal page scroll: nothing is wider than the window."""
        widths = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{where} at {self.viewport}: page {widths[0]} px wide in a {widths[1]} px window"


@pytest.fixture(params=list(VIEWPORTS))
def walk(request: pytest.FixtureRequest, browser: Any, stack: BillingEnv) -> Iterator[Walk]:
    """A fresh context (no cookies) at the parametrised viewport."""
    expect.set_options(timeout=10_000)
    context = browser.new_context(viewport=VIEWPORTS[request.param], base_url=stack.url)
    context.set_default_timeout(10_000)
    yield Walk(context.new_page(), stack, request.param)
    context.close()


def dialog(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("dialog")


def test_1_every_page_names_one_company_and_a_reload_stays_in_it(walk: Walk) -> None:
    page = walk.page
    walk.sign_up("Harbor Street Bakery")
    first = walk.company_id()
    set_plan(walk.tenant, "pro")
    import_sample(walk.tenant, rows=2)
    page.get_by_text("Switch company").click()
    page.get_by_label("New company").fill("North Pier Cafe")
    page.get_by_role("button", name="Add company").click()
    page.wait_for_url(lambda url: COMPANY_URL.search(url) is not None and first not in url)
    expect(page.get_by_role("heading", level=1)).to_have_text("North Pier Cafe")
    expect(page).to_have_title(re.compile("^North Pier Cafe"))
    expect(page.get_by_text("Nothing to book")).to_be_visible()  # not the first company's rows
    second = walk.company_id()
    forms = page.evaluate("Array.from(document.querySelectorAll('#workspace form[action]'), f => f.action)")
    assert all(f"/app/companies/{second}/" in action or action.endswith("/app/companies") for action in forms)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("North Pier Cafe")
    page.get_by_text("Switch company").click()
    page.get_by_role("link", name="Harbor Street Bakery").click()
    page.wait_for_url(re.compile(first))
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbor Street Bakery")
    expect(page.get_by_role("button", name="Propose: Staples order 1042")).to_be_visible()
    walk.fits("workspace with the switcher")


def test_2_the_header_meter_follows_a_failed_payment_and_a_settled_activation(walk: Walk) -> None:
    page = walk.page
    walk.sign_up()
    tenant = walk.tenant
    set_plan(tenant, "pro")
    propose(tenant, import_sample(tenant, rows=1))
    set_usage(tenant, posted=62)
    page.reload()
    meter = page.locator("#usage-meter")
    expect(meter).to_contain_text("Pro")
    expect(meter).to_contain_text("62 / 2,000")
    set_plan(tenant, "pro", status="past_due", active=False)  # the payment fails behind the open page
    page.get_by_role("button", name="Commit: Staples order 1042").click()
    expect(dialog(page).get_by_role("heading", name="Your last payment did not go through")).to_be_visible()
    expect(meter).to_contain_text("Free")
    expect(meter).not_to_contain_text("2,000")
    page.keyboard.press("Escape")

    set_plan(tenant, "free", status="canceled", active=False)
    page.goto(f"/billing?activating=1&since={int(time.time())}")
    expect(page.get_by_text("Activating your subscription…")).to_be_visible()
    walk.fits("billing while activating")
    expect(meter).to_contain_text(f"0 / {FREE_DAILY_ANALYZE_LIMIT}")
    set_plan(tenant, "starter", status="trialing")  # the webhook arrives
    expect(page.locator("#status-badge")).to_contain_text("Trial", timeout=8000)
    expect(meter).to_contain_text("Starter")
    expect(meter).to_contain_text("62 / 300")  # the month's postings, against the new plan's cap


def test_3_no_page_is_wider_than_the_window_and_row_actions_stay_in_reach(walk: Walk) -> None:
    page = walk.page
    for path in ("/signup", "/login", "/nowhere"):
        page.goto(path)
        walk.fits(path)
    walk.sign_up("Harbor Street Bakery & Cafe of the Pacific Northwest Coast")
    tenant = walk.tenant
    set_plan(tenant, "pro")
    txns = import_sample(tenant)
    propose(tenant, txns[:4])
    page.reload()
    walk.fits("workspace")
    commit = page.get_by_role("button", name=re.compile("^Commit: ")).first
    box = commit.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    commit.click()
    expect(page.locator("#proposals-status")).to_contain_text("Posted 1 entry")
    walk.fits("workspace after a commit")
    page.get_by_text("Switch company").click()
    page.get_by_text("Company settings").click()
    walk.fits("workspace with both menus open")
    page.locator("#csv-file").set_input_files(str(SAMPLES / "us_bank_checking.csv"))
    page.get_by_role("button", name="Preview import").click()
    expect(page.get_by_text("Ready to import")).to_be_visible()
    walk.fits("import preview")
    page.get_by_role("checkbox", name="Select all transactions").check()
    set_plan(tenant, "free", status="canceled", active=False)
    use_free_analyses(tenant, FREE_DAILY_ANALYZE_LIMIT)
    page.get_by_role("button", name="Propose selected").click()
    expect(dialog(page)).to_be_visible()
    walk.fits("free-cap modal")
    page.keyboard.press("Escape")
    page.goto("/account")
    page.get_by_label("Token name").fill("nightly export from the accounting system of the main office")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    walk.fits("account with tokens")
    revoke = page.get_by_role("button", name=re.compile("^Revoke token")).first
    box = revoke.bounding_box()
    assert box and box["x"] + box["width"] <= page.viewport_size["width"]
    for path in ("/billing", "/billing/plans"):
        page.goto(path)
        walk.fits(path)


def test_4_sign_up_names_the_company_and_it_can_be_renamed_without_a_paywall(walk: Walk) -> None:
    page = walk.page
    page.goto("/signup")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#company_name-error")).to_have_text("Company name is required")
    walk.sign_up("Fisher Design Studio")
    expect(page.get_by_role("heading", level=1)).to_have_text("Fisher Design Studio")
    page.get_by_text("Company settings").click()
    page.get_by_label("Company name").fill("Fisher & Daughters Design")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fisher & Daughters Design")
    expect(page).to_have_title(re.compile("^Fisher & Daughters Design"))
    expect(page.get_by_role("status").filter(has_text="Renamed to Fisher & Daughters Design.")).to_be_visible()
    expect(dialog(page)).to_have_count(0)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fisher & Daughters Design")


def test_4_an_archived_company_frees_its_place_and_keeps_its_books_readable(walk: Walk) -> None:
    page = walk.page
    walk.sign_up("Old Studio")
    old = walk.company_id()
    tenant = walk.tenant
    set_plan(tenant, "starter")
    propose(tenant, import_sample(tenant, rows=1))
    page.reload()
    page.get_by_role("button", name="Commit: Staples order 1042").click()
    expect(page.locator("#proposals-status")).to_contain_text("Posted 1 entry")
    page.get_by_text("Company settings").click()
    page.get_by_role("button", name="Archive Old Studio").click()
    expect(page.get_by_text("these books are read-only")).to_be_visible()
    expect(page.get_by_role("table", name="Posted entries, newest first")).to_contain_text("Staples order 1042")
    expect(page.get_by_role("button", name="Preview import")).to_have_count(0)
    walk.fits("archived workspace")
    page.get_by_text("Switch company").click()
    page.get_by_label("New company").fill("New Studio")
    page.get_by_role("button", name="Add company").click()  # starter's one place was freed
    page.wait_for_url(lambda url: old not in url and COMPANY_URL.search(url) is not None)
    expect(page.get_by_role("heading", level=1)).to_have_text("New Studio")
    page.goto("/app")
    expect(page.get_by_role("heading", level=1)).to_have_text("New Studio")


def test_5_over_the_free_cap_the_modal_offers_to_propose_the_first_n(walk: Walk) -> None:
    page = walk.page
    walk.sign_up()
    tenant = walk.tenant
    import_sample(tenant, rows=6)
    use_free_analyses(tenant, FREE_DAILY_ANALYZE_LIMIT - 4)
    page.reload()
    page.get_by_role("checkbox", name="Select all transactions").check()
    page.get_by_role("button", name="Propose selected").click()
    modal = dialog(page)
    expect(modal.get_by_role("heading", name="Only 4 free analyses left today")).to_be_visible()
    modal.get_by_role("button", name="Propose the first 4").click()
    expect(dialog(page)).to_have_count(0)
    expect(page.locator("#proposals-heading .count")).to_have_text("4")
    expect(page.locator("#usage-meter")).to_contain_text(f"{FREE_DAILY_ANALYZE_LIMIT} / {FREE_DAILY_ANALYZE_LIMIT}")


def test_6_feedback_sits_beside_the_action_without_moving_the_page(walk: Walk) -> None:
    page = walk.page
    walk.sign_up()
    tenant = walk.tenant
    set_plan(tenant, "pro")
    propose(tenant, import_sample(tenant)[:3])
    page.reload()
    selected = page.get_by_role("button", name="Propose selected")
    page.get_by_role("checkbox", name="Select Google Ads campaign").check()
    selected.scroll_into_view_if_needed()
    y = page.evaluate("window.scrollY")
    gate = []
    page.route("**/propose", lambda route: gate.append(route))  # hold the answer to see the button busy
    selected.click()
    expect(selected).to_have_attribute("aria-busy", "true")
    spinner = page.evaluate("getComputedStyle(document.getElementById('propose-selected'), '::after').content")
    assert spinner == '""'
    for _ in range(500):  # the route handler runs when Playwright next pumps its events: let it, up to 5 s
        if gate:
            break
        page.wait_for_timeout(10)
    gate[0].continue_()
    page.unroute("**/propose")
    status = page.locator("#transactions-status")
    expect(status).to_have_text("Proposed 1 entry: check it under Proposals.")
    expect(page.get_by_role("button", name="Propose selected")).not_to_have_attribute("aria-busy", "true")
    assert abs(page.evaluate("window.scrollY") - y) < 40  # no jump to the top
    assert status.evaluate("el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")

    commit = page.get_by_role("button", name=re.compile("^Commit: ")).nth(1)
    commit.scroll_into_view_if_needed()
    commit.click()
    row_status = page.locator("#proposals-status")
    expect(row_status).to_contain_text("Posted 1 entry")
    assert row_status.evaluate("el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")

    page.get_by_text("Company settings").click()
    page.get_by_label("Company name").fill(" ")
    page.get_by_role("button", name="Rename").click()
    error = page.locator("#company-name-error")
    expect(error).to_have_text("Company name is required")
    expect(page.get_by_label("Company name")).to_be_focused()
    set_plan(tenant, "pro", status="past_due", active=False)
    page.get_by_role("button", name=re.compile("^Commit: ")).first.click()
    expect(dialog(page)).to_be_visible()
    expect(error).to_have_count(0)  # the next answer cleared the old message
    expect(page.locator("[aria-invalid=true]")).to_have_count(0)


def test_7_a_real_bank_export_is_previewed_then_imported_and_a_file_survives_an_error(walk: Walk) -> None:
    page = walk.page
    walk.sign_up()
    file_input = page.locator("#csv-file")
    broken = SAMPLES / "us_card.csv"
    file_input.set_input_files({"name": "broken.csv", "mimeType": "text/csv",
                                "buffer": broken.read_bytes().replace(b"112.34", b"11x.34")})
    page.get_by_role("button", name="Preview import").click()
    expect(page.locator("#csv-file-error")).to_contain_text("line 4 Debit")
    assert file_input.evaluate("el => el.files.length && el.files[0].name") == "broken.csv"  # still chosen

    file_input.set_input_files(str(SAMPLES / "us_card.csv"))
    page.get_by_role("button", name="Preview import").click()
    preview = page.locator("#import-card")
    expect(preview).to_contain_text("Ready to import 7 transactions from us_card.csv")
    expect(preview).to_contain_text("Debit as money out, Credit as money in")
    expect(preview.get_by_role("table")).to_contain_text("STAPLES, INC. #1042")
    expect(page.get_by_role("table", name="Imported transactions not yet in the ledger")).to_have_count(0)
    page.get_by_role("button", name="Import 7 transactions").click()
    expect(page.locator("#import-status")).to_have_text("Imported 7 new transactions.")
    expect(page.locator("#txns-heading .count")).to_have_text("7")

    page.get_by_label("…or paste it").fill("Date,Description,Amount\n03/04/2025,Coffee beans,-4.50\n")
    page.get_by_role("button", name="Preview import").click()
    page.get_by_label(re.compile("3 April 2025")).check()
    page.get_by_role("button", name="Show the preview").click()
    expect(preview).to_contain_text("2025-04-03")
    page.get_by_role("button", name="Import 1 transaction").click()
    expect(page.locator("#import-status")).to_have_text("Imported 1 new transaction.")


def test_8_a_counterparty_parked_in_uncategorized_is_not_proposed_back_with_confidence(walk: Walk) -> None:
    from webapp.bookkeeping import csv_import, posting

    page = walk.page
    walk.sign_up()
    tenant = walk.tenant
    set_plan(tenant, "pro")
    rows = "".join(f"2025-01-{i + 2:02d},XQZ HOLDINGS {i},-15.00,XQZ Holdings\n" for i in range(4))
    txns = [t.id for t, _ in csv_import.import_csv(tenant, None, "date,description,amount,counterparty\n"
                                                   + rows).rows]
    posting.commit_entries(tenant, propose(tenant, txns[:3]))  # parked three times in 6999
    page.reload()
    page.get_by_role("button", name="Propose: XQZ HOLDINGS 3").click()
    expect(page.locator("#transactions-status")).to_contain_text("6999 Uncategorized Expense (30 %)")
    proposals = page.get_by_role("table", name="Proposed entries, not yet posted")
    expect(proposals.get_by_role("row", name=re.compile("XQZ HOLDINGS 3"))).to_contain_text("30 %")
