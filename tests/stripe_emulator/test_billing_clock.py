"""Billing over time with test clocks: trials, renewals, failures, retries, cancellation."""
from __future__ import annotations

import pytest
import stripe

from emulator_testkit import card, get, make_price, post_form
from stripe_emulator import EmulatorServer

T0 = 1767225600  # 2026-01-01 00:00 UTC
DAY = 86400
HOUR = 3600


def subscribe_on_clock(client, price, trial_days=None, number="4242424242424242"):
    """A customer on a fresh test clock who completed Checkout for `price`."""
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0, "name": "t"})
    customer = client.v1.customers.create(params={"email": "clock@example.com",
                                                  "test_clock": clock.id})
    params = {"mode": "subscription", "customer": customer.id, "success_url": "http://app.test/ok",
              "line_items": [{"price": price.id, "quantity": 1}]}
    if trial_days:
        params["subscription_data"] = {"trial_period_days": trial_days}
    session = client.v1.checkout.sessions.create(params=params)
    assert post_form(session.url, card(number)).status == 303
    sub = client.v1.subscriptions.list(params={"customer": customer.id}).data[0]
    return clock, customer, sub


def advance(client, clock, to):
    """Advance the clock and return it (ready)."""
    moved = client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": to})
    assert moved.status == "ready" and moved.frozen_time == to
    return moved


def event_types(client, since=0):
    """Types of all events, oldest first."""
    return [e.type for e in reversed(list(client.v1.events.list(params={"limit": 100}).data))
            if e.created >= since]


def portal(client, customer):
    """A billing portal session for the customer."""
    return client.v1.billing_portal.sessions.create(params={
        "customer": customer.id, "return_url": "http://app.test/account"})


def test_trial_sends_trial_will_end_three_days_before_then_charges_first_invoice(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client), trial_days=14)
    assert sub.status == "trialing" and sub.trial_end == T0 + 14 * DAY
    assert sub.items.data[0].current_period_end == T0 + 14 * DAY
    advance(client, clock, T0 + 10 * DAY)
    assert "customer.subscription.trial_will_end" not in event_types(client)
    advance(client, clock, T0 + 11 * DAY + HOUR)
    warning = client.v1.events.list(params={"type": "customer.subscription.trial_will_end"}).data
    assert len(warning) == 1 and warning[0].created == T0 + 11 * DAY
    assert client.v1.subscriptions.retrieve(sub.id).status == "trialing"
    advance(client, clock, T0 + 14 * DAY + HOUR)
    sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "active"
    assert (sub.latest_invoice.billing_reason, sub.latest_invoice.status,
            sub.latest_invoice.amount_paid) == ("subscription_cycle", "paid", 2900)
    assert sub.items.data[0].current_period_start == T0 + 14 * DAY
    updated = client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.previous_attributes.status == "trialing"


def test_monthly_renewals_each_charge_an_invoice(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client))
    advance(client, clock, T0 + 31 * DAY)  # one advance may cover two periods at most, as on Stripe
    advance(client, clock, T0 + 62 * DAY)
    invoices = client.v1.invoices.list(params={"subscription": sub.id}).data
    assert [i.billing_reason for i in invoices] == ["subscription_cycle", "subscription_cycle",
                                                    "subscription_create"]
    assert all(i.status == "paid" for i in invoices)
    periods = sorted(i.lines.data[0].period.start for i in invoices)
    assert periods == [T0, 1769904000, 1772323200]  # Jan 1, Feb 1, Mar 1
    assert client.v1.subscriptions.retrieve(sub.id).items.data[0].current_period_end == 1775001600


def test_renewal_failure_goes_past_due_retries_and_recovers_by_portal_card_update(client, server,
                                                                                  receiver):
    clock, customer, sub = subscribe_on_clock(client, make_price(client))
    session = portal(client, customer)
    assert post_form(session.url + "/card", card("4000000000000341")).status == 303
    advance(client, clock, T0 + 31 * DAY + HOUR)
    sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "past_due"
    invoice = sub.latest_invoice
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert invoice.next_payment_attempt == T0 + 31 * DAY + 3 * DAY
    advance(client, clock, T0 + 34 * DAY + HOUR)
    invoice = client.v1.invoices.retrieve(invoice.id)
    assert (invoice.status, invoice.attempt_count) == ("open", 2)
    assert invoice.next_payment_attempt == T0 + 34 * DAY + 5 * DAY
    page = post_form(session.url + "/card", card("4242424242424242"))
    assert page.status == 303 and "notice=paid" in page.location
    invoice = client.v1.invoices.retrieve(invoice.id)
    assert (invoice.status, invoice.next_payment_attempt) == ("paid", None)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    server.wait_for_webhooks(5)
    types = receiver.types()
    assert types.count("invoice.payment_failed") == 2
    assert types.index("invoice.payment_failed") < len(types) - 1 - types[::-1].index("invoice.paid")


def test_after_the_last_retry_fails_the_subscription_becomes_unpaid(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client), trial_days=7,
                                              number="4000000000000341")
    advance(client, clock, T0 + 7 * DAY + HOUR)
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    advance(client, clock, T0 + (7 + 3 + 5 + 7) * DAY + HOUR)
    sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "unpaid"
    assert (sub.latest_invoice.attempt_count, sub.latest_invoice.next_payment_attempt,
            sub.latest_invoice.status) == (4, None, "open")


def unpaid_subscription(client):
    """A monthly subscription from T0 whose renewal failed every retry: unpaid on Feb 16."""
    clock, customer, sub = subscribe_on_clock(client, make_price(client))
    session = portal(client, customer)
    assert post_form(session.url + "/card", card("4000000000000341")).status == 303
    advance(client, clock, T0 + 31 * DAY + HOUR)
    advance(client, clock, T0 + (31 + 3 + 5 + 7) * DAY + HOUR)
    assert client.v1.subscriptions.retrieve(sub.id).status == "unpaid"
    return clock, customer, sub, session


def test_unpaid_subscription_keeps_renewing_with_draft_invoices_it_does_not_charge(client):
    clock, customer, sub, session = unpaid_subscription(client)
    advance(client, clock, T0 + 62 * DAY)  # Mar 1 and ...
    advance(client, clock, T0 + 93 * DAY)  # ... Apr 1 renewals
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "unpaid"
    assert sub["items"].data[0].current_period_start == 1775001600  # Apr 1
    invoices = client.v1.invoices.list(params={"subscription": sub.id}).data
    assert [(i.billing_reason, i.status) for i in invoices] == [
        ("subscription_cycle", "draft"), ("subscription_cycle", "draft"),
        ("subscription_cycle", "open"), ("subscription_create", "paid")]
    assert all(i.attempt_count == 0 and i.auto_advance is False for i in invoices[:2])
    assert sub.latest_invoice == invoices[0].id
    assert invoices[2].attempt_count == 4 and invoices[2].next_payment_attempt is None


def test_a_new_card_in_the_portal_pays_what_an_unpaid_subscription_owes_and_reactivates_it(client):
    clock, customer, sub, session = unpaid_subscription(client)
    advance(client, clock, T0 + 62 * DAY)
    answer = post_form(session.url + "/card", card("4242424242424242"))
    assert answer.status == 303 and "notice=paid" in answer.location
    invoices = client.v1.invoices.list(params={"subscription": sub.id}).data
    assert [i.status for i in invoices] == ["paid", "paid", "paid"]
    assert invoices[0].amount_paid == 2900
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    advance(client, clock, T0 + 91 * DAY)
    renewed = client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert (renewed.status, renewed.period_start) == ("paid", 1772323200)  # charged again


def test_an_unpaid_subscription_paid_through_the_api_is_active_once_nothing_is_owed(client):
    clock, customer, sub, session = unpaid_subscription(client)
    advance(client, clock, T0 + 62 * DAY)
    good = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    draft, old = client.v1.invoices.list(params={"subscription": sub.id}).data[:2]
    client.v1.invoices.pay(old.id, params={"payment_method": good.id})
    assert client.v1.subscriptions.retrieve(sub.id).status == "unpaid"  # the draft is still owed
    assert client.v1.invoices.finalize_invoice(draft.id).status == "open"
    assert client.v1.invoices.pay(draft.id, params={"payment_method": good.id}).status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_on_final_failure_canceled_cancels_the_subscription(receiver):
    with EmulatorServer(port=0, on_final_failure="canceled", payment_retry_days=(1,)) as srv:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": srv.url},
                                     max_network_retries=0)
        clock, customer, sub = subscribe_on_clock(client, make_price(client), trial_days=3,
                                                  number="4000000000000341")
        advance(client, clock, T0 + 5 * DAY)
        sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
        assert sub.status == "canceled"
        assert sub.cancellation_details.reason == "payment_failed"
        assert sub.latest_invoice.status == "uncollectible"
        assert "customer.subscription.deleted" in event_types(client)


def test_cancel_at_period_end_from_portal_cancels_at_the_period_end(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client))
    session = portal(client, customer)
    assert post_form(session.url + "/cancel", {"subscription": sub.id}).status == 303
    assert client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True
    assert post_form(session.url + "/resume", {"subscription": sub.id}).status == 303
    assert client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False
    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    advance(client, clock, T0 + 20 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    advance(client, clock, T0 + 32 * DAY)
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", 1769904000)
    deleted = client.v1.events.list(params={"type": "customer.subscription.deleted"}).data
    assert deleted[0].data.object.id == sub.id
    assert client.v1.invoices.list(params={"subscription": sub.id}).data[0].billing_reason == \
        "subscription_create"


def test_cancel_through_the_api_ends_the_subscription_now(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client))
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.canceled_at == T0
    assert client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    assert len(client.v1.subscriptions.list(params={"status": "canceled"}).data) == 1
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(sub.id)


def test_subscription_update_changes_item_price_and_quantity(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    clock, customer, sub = subscribe_on_clock(client, basic)
    item = sub.items.data[0]
    updated = client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": item.id, "price": pro.id, "quantity": 2}],
        "proration_behavior": "none"})
    assert (updated.items.data[0].price.id, updated.items.data[0].quantity) == (pro.id, 2)
    event = client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert "items" in event.data.previous_attributes
    advance(client, clock, T0 + 32 * DAY)
    assert client.v1.invoices.list(params={"subscription": sub.id}).data[0].amount_paid == 5800


def test_a_price_can_be_on_only_one_item_of_a_subscription(client):
    basic, seats = make_price(client, "Basic", 900), make_price(client, "Seats", 500, addon=True)
    clock, customer, sub = subscribe_on_clock(client, basic)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.subscriptions.update(sub.id, params={"items": [
            {"price": seats.id}, {"price": seats.id, "quantity": 2}]})
    assert err.value.param == "items" and seats.id in err.value.user_message
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.create(params={"customer": customer.id, "items": [
            {"price": basic.id}, {"price": basic.id}]})
    assert [i.price.id for i in client.v1.subscriptions.retrieve(sub.id)["items"].data] == \
        [basic.id]


def test_portal_changes_plan_and_add_on_quantity(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    seats = make_price(client, "Extra seats", 500, addon=True)
    clock, customer, sub = subscribe_on_clock(client, basic)
    session = portal(client, customer)
    page = get(session.url)
    for text in ("Basic", "active", "Next invoice", "Visa ending in 4242", "Extra seats",
                 'name="quantity"', 'name="price"', 'href="http://app.test/account"'):
        assert text in page.body
    assert post_form(session.url + "/plan", {"subscription": sub.id, "price": pro.id}).status == 303
    assert post_form(session.url + "/addon", {"subscription": sub.id, "price": seats.id,
                                              "quantity": "3"}).status == 303
    items = {i.price.id: i.quantity for i in client.v1.subscriptions.retrieve(sub.id).items.data}
    assert items == {pro.id: 1, seats.id: 3}
    advance(client, clock, T0 + 32 * DAY)
    renewal = client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    changed_at_period_start = -900 + 2900 + 3 * 500  # the whole period prorated (portal default)
    assert renewal.amount_paid == 2900 + 3 * 500 + changed_at_period_start
    assert sum(1 for line in renewal.lines.data
               if line.parent.subscription_item_details.proration) == 3
    post_form(session.url + "/addon", {"subscription": sub.id, "price": seats.id, "quantity": "0"})
    assert [i.price.id for i in client.v1.subscriptions.retrieve(sub.id).items.data] == [pro.id]


def test_portal_rejects_a_declined_card_and_keeps_the_old_one(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client))
    session = portal(client, customer)
    answer = post_form(session.url + "/card", card("4000000000000002"))
    assert answer.status == 402 and "Your card was declined." in answer.body
    assert "ending in 4242" in answer.body


def test_api_created_subscription_with_failing_card_is_incomplete_then_expires(client):
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    customer = client.v1.customers.create(params={
        "test_clock": clock.id, "payment_method": "pm_card_chargeCustomerFail",
        "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
    price = make_price(client)
    sub = client.v1.subscriptions.create(params={"customer": customer.id,
                                                 "items": [{"price": price.id}]})
    assert sub.status == "incomplete"
    advance(client, clock, T0 + DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == "incomplete_expired"


def test_api_created_subscription_with_good_card_is_active(client):
    customer = client.v1.customers.create(params={
        "payment_method": "pm_card_visa",
        "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    sub = client.v1.subscriptions.create(params={"customer": customer.id,
                                                 "items": [{"price": make_price(client).id}]})
    assert sub.status == "active"
    assert client.v1.invoices.retrieve(sub.latest_invoice).status == "paid"


def test_test_clock_crud_and_advancing_backwards_is_refused(client):
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == T0
    assert [c.id for c in client.v1.test_helpers.test_clocks.list().data] == [clock.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": T0 - 1})
    assert client.v1.test_helpers.test_clocks.delete(clock.id).deleted is True


def test_advance_is_refused_to_the_same_time_and_beyond_two_intervals(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client))
    for target, words in ((T0, "must be after"), (T0 - DAY, "must be after"),
                          (1772323200 + 1, "two intervals")):  # Mar 1 is two months on
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": target})
        assert (err.value.http_status, err.value.param) == (400, "frozen_time")
        assert words in err.value.user_message
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == T0
    assert client.v1.events.list(params={"type": "test_helpers.test_clock.advancing"}).data == []
    advance(client, clock, 1772323200)
    assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 3


def test_a_clock_without_subscriptions_advances_at_most_two_years(client):
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    two_years = 1830297600  # 2028-01-01
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": two_years + 1})
    advance(client, clock, two_years)


def test_an_advance_that_would_run_too_many_actions_is_refused_and_undone(client, monkeypatch):
    from stripe_emulator.billing import lifecycle
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    customer = client.v1.customers.create(params={
        "test_clock": clock.id, "payment_method": "pm_card_visa",
        "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    product = client.v1.products.create(params={"name": "Daily"})
    daily = client.v1.prices.create(params={"product": product.id, "currency": "usd",
                                            "unit_amount": 100, "recurring": {"interval": "day"}})
    sub = client.v1.subscriptions.create(params={"customer": customer.id,
                                                 "items": [{"price": daily.id}]})
    monkeypatch.setattr(lifecycle, "MAX_STEPS", 1)  # two renewals are due in the next 2 days
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": T0 + 2 * DAY})
    assert "smaller steps" in err.value.user_message
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == T0
    assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 1
    advance(client, clock, T0 + DAY)
    assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 2


def test_customers_on_a_clock_are_created_at_its_time(client):
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    customer = client.v1.customers.create(params={"test_clock": clock.id})
    assert customer.created == T0 and customer.test_clock == clock.id


def test_invoice_preview_shows_the_next_invoice_with_a_proposed_change(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    clock, customer, sub = subscribe_on_clock(client, basic)
    preview = client.v1.invoices.create_preview(params={"customer": customer.id})
    assert preview.amount_due == 900
    assert preview.lines.data[0].period.start == 1769904000
    changed = client.v1.invoices.create_preview(params={
        "subscription": sub.id, "subscription_details": {
            "items": [{"id": sub.items.data[0].id, "price": pro.id}], "proration_behavior": "none"}})
    assert changed.amount_due == 2900
    assert client.v1.subscriptions.retrieve(sub.id).items.data[0].price.id == basic.id


def test_expand_reaches_nested_objects(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client, "Nested"))
    got = client.v1.subscriptions.retrieve(sub.id, params={
        "expand": ["items.data.price.product", "customer", "latest_invoice"]})
    assert got.items.data[0].price.product.name == "Nested"
    assert got.customer.email == "clock@example.com"
    assert got.latest_invoice.object == "invoice"


def test_portal_for_a_customer_without_subscription_offers_card_update_only(client):
    customer = client.v1.customers.create(params={"email": "nosub@example.com"})
    page = get(portal(client, customer).url)
    assert page.status == 200
    assert "No active subscription." in page.body and 'value="update_card"' in page.body
    assert 'value="change_plan"' not in page.body
