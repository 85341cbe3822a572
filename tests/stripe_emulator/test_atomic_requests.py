"""Requests are atomic, as on Stripe: one that fails leaves no trace (objects, --db file, events)."""
from __future__ import annotations

import pytest
import stripe

from emulator_testkit import card, get, http, make_price, post_form
from stripe_emulator import EmulatorServer


def event_ids(client) -> list[str]:
    """Ids of every event, newest first."""
    return [e.id for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]


def subscribed(client):
    """A customer with a card and an active subscription created through the API."""
    customer = client.v1.customers.create(params={
        "email": "atomic@example.com", "payment_method": "pm_card_visa",
        "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    sub = client.v1.subscriptions.create(params={"customer": customer.id,
                                                 "items": [{"price": make_price(client).id}]})
    return customer, sub


def test_update_with_one_valid_and_one_invalid_parameter_changes_nothing(client, server, receiver):
    customer, sub = subscribed(client)
    item = sub["items"].data[0]
    assert server.wait_for_webhooks(5)
    events, delivered = event_ids(client), len(receiver.deliveries)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.subscriptions.update(sub.id, params={
            "items": [{"id": item.id, "quantity": 5}], "metadata": {"plan": "big"},
            "default_payment_method": "pm_nope"})
    assert (err.value.http_status, err.value.param) == (404, "default_payment_method")
    again = client.v1.subscriptions.retrieve(sub.id)
    assert again["items"].data[0].quantity == 1 and again.metadata.to_dict() == {}
    assert client.v1.subscription_items.retrieve(item.id).quantity == 1
    assert event_ids(client) == events
    assert server.wait_for_webhooks(5) and len(receiver.deliveries) == delivered


def test_customer_created_with_a_declined_card_does_not_exist(client, server, receiver):
    with pytest.raises(stripe.CardError):
        client.v1.customers.create(params={"email": "declined@example.com",
                                           "payment_method": "pm_card_chargeDeclined"})
    assert client.v1.customers.list().data == []
    assert client.v1.events.list().data == []
    assert server.wait_for_webhooks(5) and receiver.deliveries == []


def test_a_failed_request_is_not_written_to_the_db_file(tmp_path):
    db = str(tmp_path / "atomic.sqlite3")
    with EmulatorServer(port=0, db_path=db) as first:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": first.url},
                                     max_network_retries=0)
        kept = client.v1.customers.create(params={"email": "kept@example.com"})
        with pytest.raises(stripe.CardError):
            client.v1.customers.create(params={"email": "gone@example.com",
                                               "payment_method": "pm_card_chargeDeclined"})
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.customers.update(kept.id, params={
                "name": "Changed", "invoice_settings": {"default_payment_method": "pm_nope"}})
    with EmulatorServer(port=0, db_path=db) as second:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": second.url},
                                     max_network_retries=0)
        assert [c.id for c in client.v1.customers.list().data] == [kept.id]
        assert client.v1.customers.retrieve(kept.id).name is None
        assert [e.type for e in client.v1.events.list().data] == ["customer.created"]


def test_a_declined_invoice_payment_stays_on_record_as_on_stripe(client, server):
    customer, sub = subscribed(client)
    trigger = http("POST", server.url + "/_emulator/trigger",
                   {"event": "invoice.payment_failed", "subscription": sub.id},
                   {"Authorization": "Bearer sk_test_x"})
    assert trigger.status == 200
    failed = client.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).data[0]
    assert failed.attempt_count == 1
    failing = client.v1.payment_methods.attach("pm_card_chargeCustomerFail",
                                               params={"customer": customer.id})
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(failed.id, params={"payment_method": failing.id})
    assert client.v1.invoices.retrieve(failed.id).attempt_count == 2
    assert len(client.v1.events.list(params={"type": "invoice.payment_failed"}).data) == 2


def test_error_if_incomplete_creates_no_subscription(client):
    customer = client.v1.customers.create(params={
        "payment_method": "pm_card_chargeCustomerFail",
        "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
    events = event_ids(client)
    with pytest.raises(stripe.CardError):
        client.v1.subscriptions.create(params={"customer": customer.id,
                                               "items": [{"price": make_price(client).id}],
                                               "payment_behavior": "error_if_incomplete"})
    assert client.v1.subscriptions.list(params={"status": "all"}).data == []
    assert client.v1.invoices.list().data == []
    assert event_ids(client) == events


def test_a_trigger_that_fails_halfway_leaves_no_trace(client, server):
    answer = http("POST", server.url + "/_emulator/trigger",
                  {"event": "invoice.paid", "customer": "cus_nope"},
                  {"Authorization": "Bearer sk_test_x"})
    assert answer.status == 404 and "cus_nope" in answer.body
    assert client.v1.products.list().data == []  # no "Emulator plan" left behind
    assert client.v1.checkout.sessions.list().data == []
    assert client.v1.events.list().data == []


def test_a_checkout_post_that_fails_halfway_is_undone_and_shown(client):
    customer = client.v1.customers.create(params={"email": "gone@example.com"})
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": customer.id, "success_url": "http://app.test/ok",
        "line_items": [{"price": make_price(client).id, "quantity": 1}]})
    challenge = post_form(session.url, card("4000002500003155"))
    assert challenge.status == 303
    client.v1.customers.delete(customer.id)
    events = event_ids(client)
    answer = post_form(challenge.location, {"action": "complete"})
    assert answer.status == 404 and "No such customer" in answer.body
    assert get(challenge.location).status == 200  # the 3-D Secure step was not used up
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert event_ids(client) == events


def test_idempotent_replay_of_a_failed_request_changes_nothing_either(client):
    customer, sub = subscribed(client)
    params = {"items": [{"id": sub["items"].data[0].id, "quantity": 3}],
              "cancel_at_period_end": True, "default_payment_method": "pm_nope"}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.subscriptions.update(sub.id, params=params,
                                           options={"idempotency_key": "atomic-1"})
    again = client.v1.subscriptions.retrieve(sub.id)
    assert (again.cancel_at_period_end, again["items"].data[0].quantity) == (False, 1)
