"""Checkout Sessions and the hosted checkout page, posted as a browser would post it."""
from __future__ import annotations

import pytest

from emulator_testkit import card, get, make_price, post_form

SUCCESS = "http://app.test/billing/success?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://app.test/billing/canceled"


def open_session(client, price, **extra):
    """A subscription-mode session for one unit of `price`."""
    params = {"mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
              "success_url": SUCCESS, "cancel_url": CANCEL, **extra}
    if "customer" not in extra:
        params.setdefault("customer_email", "payer@example.com")
    return client.v1.checkout.sessions.create(params=params)


def test_session_url_serves_a_page_with_plan_price_and_card_form(client):
    session = open_session(client, make_price(client, "Pro"),
                           subscription_data={"trial_period_days": 14})
    page = get(session.url)
    assert page.status == 200
    assert "Pro" in page.body and "29.00 USD" in page.body and "14-day free trial" in page.body
    for field in ('name="card_number"', 'name="exp"', 'name="cvc"', 'name="name"',
                  'value="pay"', 'value="cancel"', 'for="card_number"'):
        assert field in page.body


def test_card_4242_completes_checkout_and_redirects_to_success_url(client, server, receiver):
    price = make_price(client)
    session = open_session(client, price, client_reference_id="tenant-1",
                           metadata={"tenant": "1"},
                           subscription_data={"metadata": {"tenant": "1"}})
    answer = post_form(session.url, card("4242 4242 4242 4242"))
    assert answer.status == 303
    assert answer.location == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.client_reference_id == "tenant-1"
    assert done.customer_details.email == "payer@example.com"
    sub = done.subscription
    assert sub.status == "active" and sub.metadata["tenant"] == "1"
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == \
        ("paid", 2900, "subscription_create")
    assert invoice.parent.subscription_details.subscription == sub.id
    assert server.wait_for_webhooks(5)
    types = receiver.types()
    for expected in ("customer.created", "customer.subscription.created", "invoice.created",
                     "invoice.finalized", "invoice.paid", "invoice.payment_succeeded",
                     "checkout.session.completed"):
        assert expected in types
    assert types.index("invoice.paid") < types.index("checkout.session.completed")


@pytest.mark.parametrize("number,message", [
    ("4000000000000002", "Your card was declined."),
    ("4000000000009995", "Your card has insufficient funds."),
])
def test_declined_cards_show_the_error_and_let_the_payer_try_another(client, number, message):
    session = open_session(client, make_price(client))
    declined = post_form(session.url, card(number))
    assert declined.status == 402
    assert message in declined.body and 'name="card_number"' in declined.body
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert client.v1.subscriptions.list().data == []
    retry = post_form(session.url, card("4242424242424242"))
    assert retry.status == 303
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_card_3155_asks_for_3ds_and_fail_lets_the_payer_retry(client):
    session = open_session(client, make_price(client))
    challenge = post_form(session.url, card("4000002500003155"))
    assert challenge.status == 303 and challenge.location.endswith(f"/checkout/{session.id}/3ds")
    page = get(challenge.location)
    assert 'value="complete"' in page.body and 'value="fail"' in page.body
    failed = post_form(challenge.location, {"action": "fail"})
    assert failed.status == 402 and "unable to authenticate" in failed.body
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    again = post_form(session.url, card("4000002500003155"))
    done = post_form(again.location, {"action": "complete"})
    assert done.status == 303 and done.location.startswith("http://app.test/billing/success")
    sub = client.v1.subscriptions.list().data[0]
    assert sub.status == "active"


def test_card_0341_attaches_but_its_first_charge_is_declined(client):
    session = open_session(client, make_price(client))
    declined = post_form(session.url, card("4000000000000341"))
    assert declined.status == 402 and "Your card was declined." in declined.body


def test_card_0341_starts_a_trial_because_nothing_is_charged_yet(client):
    session = open_session(client, make_price(client), subscription_data={"trial_period_days": 7})
    assert post_form(session.url, card("4000000000000341")).status == 303
    sub = client.v1.subscriptions.list().data[0]
    assert sub.status == "trialing"
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (invoice.amount_due, invoice.status) == (0, "paid")


def test_invalid_card_number_and_missing_email_are_shown_on_the_page(client):
    price = make_price(client)
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": SUCCESS})
    no_email = post_form(session.url, card("4242424242424242"))
    assert no_email.status == 400 and "email" in no_email.body
    bad = post_form(session.url, dict(card("4242424242424241"), email="x@example.com"))
    assert bad.status == 402 and "Your card number is incorrect." in bad.body


def test_cancel_button_goes_to_cancel_url(client):
    session = open_session(client, make_price(client))
    answer = post_form(session.url + "/cancel", {"action": "cancel"})
    assert (answer.status, answer.location) == (303, CANCEL)


def test_expire_closes_the_session_and_emits_checkout_session_expired(client, server, receiver):
    session = open_session(client, make_price(client))
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired" and expired.url is None
    assert "expired" in get(session.url).body
    server.wait_for_webhooks(5)
    assert "checkout.session.expired" in receiver.types()


def test_session_for_existing_customer_uses_that_customer(client):
    customer = client.v1.customers.create(params={"email": "known@example.com"})
    session = open_session(client, make_price(client), customer=customer.id)
    assert post_form(session.url, card("4242424242424242")).status == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.customer == customer.id


def test_subscription_mode_requires_recurring_active_prices(client):
    import stripe
    product = client.v1.products.create(params={"name": "One-off"})
    one_off = client.v1.prices.create(params={"product": product.id, "currency": "usd",
                                              "unit_amount": 100})
    with pytest.raises(stripe.InvalidRequestError) as err:
        open_session(client, one_off)
    assert err.value.param == "line_items[0][price]"
