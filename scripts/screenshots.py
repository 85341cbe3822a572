"""Save a PNG of every page and modal to docs/screenshots/ (run by hand: python scripts/screenshots.py).

Starts the app and a fresh Stripe emulator exactly as the browser tests do (tests/browser/live.py),
then walks through the product as a new user would, in Debian's Chromium at 1280×800, and again the
pages a bookkeeper uses on the go at 390×844 (the `phone-*` files).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _app import ROOT, ensure_project_python

if __name__ == "__main__":  # before the imports below, which need the project's packages
    ensure_project_python()

from tests.browser.live import (VIEWPORT, browser_unavailable, chromium, import_sample, live_billing,  # noqa: E402
                                pay_on_checkout, propose, sign_up, tenant_of, use_free_analyses, use_postings)
from tests.factories import set_plan  # noqa: E402
from webapp.ops.mail_sink import start_sink  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
SAMPLE_EXPORT = ROOT / "tests" / "samples" / "us_bank_checking.csv"


def free_port() -> int:
    """A port nothing listens on now (for the mail sink)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed_usage_history(tenant: str) -> None:
    """Months of past usage, so the billing page's 12-month chart has something to draw."""
    from datetime import timedelta

    from webapp import clock
    from webapp.extensions import db
    from webapp.models import UsageMonthly

    now = clock.now()
    for back, (posted, analysed) in enumerate([(0, 0), (120, 180), (210, 260), (160, 240), (90, 150), (40, 60)]):
        month = (now.replace(day=1) - timedelta(days=28 * back + 1)).strftime("%Y-%m") if back else None
        if month and posted:
            db.session.merge(UsageMonthly(tenant_id=tenant, year_month=month, tx_posted=posted, tx_analyzed=analysed))
    db.session.commit()


def seed_failed_invoice(tenant: str) -> None:
    """The webhook-fed copy of a renewal that failed twice, as Stripe's events would leave it."""
    from webapp import clock
    from webapp.billing import copies
    from webapp.extensions import db
    from webapp.models import Entitlement

    now = int(clock.now().timestamp())
    ent = db.session.get(Entitlement, tenant)
    copies.record_invoice(tenant, {
        "id": "in_shots_failed", "status": "open", "number": "DANA-0002", "currency": "usd", "total": 4900,
        "amount_due": 4900, "amount_paid": 0, "amount_remaining": 4900, "attempt_count": 2, "created": now - 4 * 86400,
        "next_payment_attempt": now + 4 * 86400, "billing_reason": "subscription_cycle",
        "parent": {"subscription_details": {"subscription": ent.stripe_subscription_id}}}, clock.now())
    db.session.commit()


def main() -> int:
    """Walk the pages and save the screenshots; the file names are listed in README.md."""
    reason = browser_unavailable()
    if reason:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="aibk-shots-"))
    sink = start_sink(tmp / "mail", port=free_port())
    mail = {"MAIL_URL": f"smtp://127.0.0.1:{sink.port}", "MAIL_SINK_DIR": str(tmp / "mail")}
    with live_billing(f"sqlite:///{tmp / 'shots.db'}", tmp, mail) as env, chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT, base_url=env.url)
        page = context.new_page()
        page.set_default_timeout(15000)
        shoot = Shooter(page)
        walk(env, page, shoot)
        context.close()
        phone = browser.new_context(viewport=PHONE, base_url=env.url, is_mobile=True, has_touch=True)
        on_phone = Shooter(phone.new_page())
        walk_phone(env, on_phone.page, on_phone)
        shoot.saved += on_phone.saved
        phone.close()
    sink.stop()
    print(f"screenshots: {len(shoot.saved)} PNGs in {OUT.relative_to(ROOT)}")
    return 0


class Shooter:
    """Saves numbered-free, stable file names; a modal shot waits for the dialog first."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.page, self.saved = page, []

    def __call__(self, name: str, modal: bool = False, full_page: bool = False) -> None:
        if modal:
            self.page.get_by_role("dialog").wait_for()
        self.page.wait_for_load_state("networkidle")
        self.page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)
        self.saved.append(name)

    def close_modal(self) -> None:
        self.page.keyboard.press("Escape")
        self.page.get_by_role("dialog").wait_for(state="detached")


def walk(env, page, shoot: Shooter) -> None:  # type: ignore[no-untyped-def]
    """The tour: anonymous pages, the free workspace and its paywalls, Checkout, the paid workspace, Portal."""
    base = env.url
    page.goto(f"{base}/signup")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Sign up").click()
    shoot("signup-errors")
    page.goto(f"{base}/signup")
    shoot("signup")
    page.goto(f"{base}/login")
    shoot("login")
    page.goto(f"{base}/nowhere")
    shoot("error-404")

    email = "dana@example.com"
    sign_up(page, base, email)
    tenant = tenant_of(email)
    shoot("workspace-empty")
    page.get_by_label("…or paste it").fill("date,description,amount\n2025-01-02,Staples order,twelve")
    page.get_by_role("button", name="Preview import").click()
    page.get_by_text("line 2").wait_for()
    shoot("workspace-import-error")
    page.locator("#csv-file").set_input_files(str(SAMPLE_EXPORT))
    page.get_by_role("button", name="Preview import").click()
    page.get_by_text("Ready to import").wait_for()
    page.locator("#import-card").evaluate("el => el.scrollIntoView()")
    shoot("workspace-import-preview")
    page.get_by_label("…or paste it").wait_for(state="detached")
    txns = import_sample(tenant)
    propose(tenant, txns[:5])
    page.goto(f"{base}/app")
    shoot("workspace-free")
    page.goto(f"{base}/account")
    shoot("account")
    page.goto(f"{base}/billing")
    shoot("billing-free")
    page.goto(f"{base}/billing/plans")
    shoot("plans")

    page.goto(f"{base}/app")
    page.get_by_role("button", name="Commit: Staples order 1042").click()
    shoot("modal-subscription-required", modal=True)
    shoot.close_modal()
    page.get_by_text("Switch company").click()
    page.get_by_label("New company").fill("Second Street Bakery")
    page.get_by_role("button", name="Add company").click()
    shoot("modal-company-limit", modal=True)
    shoot.close_modal()
    use_free_analyses(tenant, 45)
    page.goto(f"{base}/app")
    shoot("workspace-nudge")
    page.get_by_role("checkbox", name="Select all transactions").check()
    page.get_by_role("button", name="Propose selected").click()
    shoot("modal-free-cap-partial", modal=True)
    shoot.close_modal()
    use_free_analyses(tenant, 5)
    page.get_by_role("button", name="Propose: Google Ads campaign").click()
    shoot("modal-free-cap", modal=True)
    shoot.close_modal()

    page.goto(f"{base}/billing/plans")
    page.get_by_role("button", name="Choose Starter").click()
    page.get_by_role("form", name="Payment").wait_for()
    shoot("checkout-emulator")
    pay_on_checkout(page)
    page.wait_for_url(f"{base}/billing?*")
    env.wait_for_webhooks()
    page.reload()
    shoot("billing-trialing")
    page.goto(f"{base}/billing/plans")
    shoot("plans-subscriber")
    page.get_by_role("link", name="Upgrade to Pro").click()
    page.locator("#preview-summary").wait_for()
    shoot("billing-change-confirm")

    page.goto(f"{base}/app")
    for memo in ("Staples order 1042", "Adobe Creative Cloud", "Invoice 2025-001 paid"):
        page.get_by_role("button", name=f"Commit: {memo}").click()
        page.get_by_role("status").filter(has_text=f"Posted 1 entry: {memo}").wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    shoot("workspace-paid")
    page.get_by_role("heading", name="Ledger").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 250)")
    shoot("workspace-ledger")
    page.get_by_role("checkbox", name="Select all proposals").check()
    page.get_by_role("button", name="Commit selected").click()
    shoot("modal-bulk-approve", modal=True)
    shoot.close_modal()
    use_postings(tenant, 297, 300)
    page.get_by_role("button", name="Commit: Uber trip to client").click()
    shoot("modal-monthly-cap", modal=True)
    shoot.close_modal()

    page.goto(f"{base}/billing")
    page.get_by_role("button", name="Manage billing").click()
    page.get_by_role("form", name="Cancel plan").wait_for()
    shoot("portal-emulator")
    page.locator("#cancel-plan").click()
    env.wait_for_webhooks()
    page.locator("#return").click()
    page.wait_for_url(f"{base}/billing?*")
    seed_usage_history(tenant)
    page.reload()
    shoot("billing-canceling")
    page.goto(f"{base}/billing/resume")
    shoot("billing-resume-confirm")
    page.get_by_role("button", name="Confirm: resume Starter").click()
    page.locator("#done-banner").wait_for()
    shoot("billing-resumed-banner")
    page.goto(f"{base}/billing/cancel")
    shoot("billing-cancel-confirm")

    set_plan(tenant, "starter", status="past_due", active=False)
    seed_failed_invoice(tenant)
    page.goto(f"{base}/billing")
    shoot("billing-past-due")
    page.goto(f"{base}/app")
    page.get_by_role("button", name="Commit: Uber trip to client").click()
    shoot("modal-payment-required", modal=True)
    shoot.close_modal()

    context2 = page.context.browser.new_context(viewport=VIEWPORT, base_url=base)
    other = context2.new_page()
    sign_up(other, base, "sam@example.com", name="Sam Lee")
    now = int(time.time())
    other.goto(f"{base}/billing?activating=1&since={now}")
    Shooter.__call__(Shooter(other), "billing-activating")
    other.goto(f"{base}/billing?activating=1&since={now - 61}")
    Shooter.__call__(Shooter(other), "billing-activation-slow")
    context2.close()
    page.goto(f"{base}/dev/mail")
    shoot("dev-mail")



def walk_phone(env, page, shoot: Shooter) -> None:  # type: ignore[no-untyped-def]
    """The same product at 390×844: the workspace, its switcher, an import preview, account and billing."""
    base = env.url
    page.set_default_timeout(15000)
    page.goto(f"{base}/signup")
    shoot("phone-signup")
    email = "lee@example.com"
    sign_up(page, base, email, name="Lee Park", company="Harbor Street Bakery")
    tenant = tenant_of(email)
    set_plan(tenant, "pro")
    propose(tenant, import_sample(tenant)[:5])
    page.reload()
    shoot("phone-workspace")
    page.get_by_role("heading", name="Proposals").scroll_into_view_if_needed()
    shoot("phone-workspace-proposals")
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_text("Switch company").click()
    shoot("phone-company-switcher")
    page.reload()
    page.locator("#csv-file").set_input_files(str(SAMPLE_EXPORT))
    page.get_by_role("button", name="Preview import").click()
    page.get_by_text("Ready to import").wait_for()
    page.locator("#import-card").evaluate("el => el.scrollIntoView()")
    shoot("phone-import-preview")
    page.goto(f"{base}/account")
    shoot("phone-account")
    page.goto(f"{base}/billing")
    shoot("phone-billing")
    page.goto(f"{base}/billing/plans")
    shoot("phone-plans")


if __name__ == "__main__":
    raise SystemExit(main())
