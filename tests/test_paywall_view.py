"""The paywall modal's view model: built in Python from the gate's errors, so templates only format."""
from __future__ import annotations

import pytest

from webapp.billing.paywall import describe_wait, paywall_view
from webapp.billing.plans import FIRM, PAID_PLANS, PRO
from webapp.errors import PaywallError


@pytest.mark.parametrize(("seconds", "words"), [(None, None), (45, "45 s"), (61, "2 min"), (3600, "1 h"),
                                                 (3 * 3600 + 12 * 60 + 5, "3 h 13 min")])
def test_retry_after_in_words(seconds, words):
    assert describe_wait(seconds) == words


def view(app, err):
    with app.test_request_context("/app"):
        return paywall_view(err)


def test_free_cap_has_a_meter_the_reset_and_every_paid_plan_through_checkout(app):
    err = PaywallError("FREE_CAP_EXCEEDED", 429, "free", "m", retry_after=3700, limit=50, used=50,
                       resets_at="2025-02-01T00:00:00Z")
    v = view(app, err)
    assert v.meter is not None and (v.meter.used, v.meter.limit, v.meter.percent) == (50, 50, 100)
    assert v.resets_in == "1 h 2 min" and v.resets_at is not None and v.resets_at.day == 1
    assert [o.key for o in v.offers] == [p.key for p in PAID_PLANS] and v.offer_via == "checkout"


def test_monthly_cap_offers_the_next_plan_up_only(app):
    v = view(app, PaywallError("MONTHLY_CAP_EXCEEDED", 402, "starter", "m", limit=300, used=300))
    assert [o.key for o in v.offers] == [PRO.key] and v.meter is not None and v.meter.full


def test_bulk_and_company_limits_name_the_plans_that_include_them(app):
    bulk = view(app, PaywallError("BULK_APPROVE_NOT_INCLUDED", 402, "starter", "m", limit=1, requested=2,
                                  plans_with_bulk=["pro", "firm"]))
    assert [o.key for o in bulk.offers] == ["pro", "firm"] and bulk.meter is None and "2" in bulk.message
    firm = view(app, PaywallError("COMPANY_LIMIT_REACHED", 402, "firm", "m", limit=10, used=10,
                                  plans_with_more=[], addon_available=True))
    assert firm.offers == [] and firm.addon is not None and "extra companies" in firm.message
    assert firm.addon.plan_key == FIRM.key


def test_payment_required_sends_to_the_portal_to_update_the_card(app):
    v = view(app, PaywallError("PAYMENT_REQUIRED", 402, "starter", "m", subscription_status="past_due"))
    assert v.offer_via == "portal" and v.portal_label == "Update card" and v.offers == []
    assert "Starter" in v.message


def test_paywall_links_name_the_billing_routes_that_serve_them(app):
    from flask import url_for

    from webapp.billing import links
    with app.test_request_context():
        assert links.upgrade_url() == url_for("billing.plans_page")
        assert links.portal_url() == url_for("billing_api.api_portal")


@pytest.mark.parametrize(("err", "title"), [
    (PaywallError("FREE_CAP_EXCEEDED", 429, "free", "m", limit=50, used=50, requested=1, remaining=0),
     "Today's free analyses are used up"),
    (PaywallError("FREE_CAP_EXCEEDED", 429, "free", "m", limit=50, used=45, requested=10, remaining=5),
     "Only 5 free analyses left today"),
    (PaywallError("FREE_CAP_EXCEEDED", 429, "free", "m", limit=50, used=0, requested=60, remaining=50),
     "The free plan analyses at most 50 a day"),
    (PaywallError("MONTHLY_CAP_EXCEEDED", 402, "pro", "m", limit=2000, used=1997, requested=5, remaining=3),
     "Only 3 postings left this month"),
    (PaywallError("MONTHLY_CAP_EXCEEDED", 402, "pro", "m", limit=2000, used=2000, requested=1, remaining=0),
     "This month's postings are used up"),
])
def test_cap_modal_says_used_up_only_when_nothing_is_left(app, err, title):
    assert view(app, err).title == title
