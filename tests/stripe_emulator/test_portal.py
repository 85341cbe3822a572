"""The hosted Billing Portal only offers, and only accepts, prices that can go on the plan."""
from __future__ import annotations

import pytest

from emulator_testkit import card, get, make_price, post_form


@pytest.fixture
def portal(client):
    """A customer subscribed (through Checkout) to Basic, with Pro and an add-on in the catalog."""
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    seats = make_price(client, "Extra seats", 500, addon=True)
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer_email": "portal@example.com",
        "success_url": "http://app.test/ok", "line_items": [{"price": basic.id, "quantity": 1}]})
    assert post_form(session.url, card("4242424242424242")).status == 303
    sub = client.v1.subscriptions.list().data[0]
    url = client.v1.billing_portal.sessions.create(params={"customer": sub.customer}).url
    return {"url": url, "sub": sub, "basic": basic, "pro": pro, "seats": seats}


def items(client, sub_id):
    """{price id: quantity} of the subscription."""
    return {i.price.id: i.quantity for i in client.v1.subscriptions.retrieve(sub_id)["items"].data}


def other_prices(client, portal):
    """Prices the plan form must refuse, by kind."""
    product = portal["pro"].product
    retired = client.v1.prices.create(params={"product": product, "currency": "usd",
                                              "unit_amount": 1900, "active": False,
                                              "recurring": {"interval": "month"}})
    one_time = client.v1.prices.create(params={"product": product, "currency": "usd",
                                               "unit_amount": 1900})
    yearly = client.v1.prices.create(params={"product": product, "currency": "usd",
                                             "unit_amount": 19000,
                                             "recurring": {"interval": "year"}})
    euro = client.v1.prices.create(params={"product": product, "currency": "eur",
                                           "unit_amount": 1900, "recurring": {"interval": "month"}})
    return {"inactive": (retired.id, "no longer available"),
            "one_time": (one_time.id, "one-time price"),
            "yearly": (yearly.id, "another currency or interval"),
            "euro": (euro.id, "another currency or interval"),
            "add_on": (portal["seats"].id, "an add-on, not a plan"),
            "unknown": ("price_nope", "no such plan"),
            "empty": ("", "no such plan")}


@pytest.mark.parametrize("kind", ["inactive", "one_time", "yearly", "euro", "add_on", "unknown",
                                  "empty"])
def test_change_plan_refuses_a_price_that_is_not_an_offered_plan(client, server, portal, kind):
    price_id, message = other_prices(client, portal)[kind]
    events = len(client.v1.events.list(params={"limit": 100}).data)
    answer = post_form(portal["url"] + "/plan", {"subscription": portal["sub"].id,
                                                 "price": price_id})
    assert answer.status == 400
    assert message in answer.body.lower() and 'role="alert"' in answer.body
    assert items(client, portal["sub"].id) == {portal["basic"].id: 1}
    assert len(client.v1.events.list(params={"limit": 100}).data) == events


def test_the_plan_menu_offers_only_what_change_plan_accepts(client, portal):
    refused = other_prices(client, portal)
    page = get(portal["url"]).body
    start = page.index('aria-label="Change plan"')
    plan_form = page[start:page.index("</form>", start)]
    assert portal["pro"].id in plan_form and portal["basic"].id in plan_form
    for price_id, _ in refused.values():
        if price_id:
            assert price_id not in plan_form
    answer = post_form(portal["url"] + "/plan", {"subscription": portal["sub"].id,
                                                 "price": portal["pro"].id})
    assert answer.status == 303
    assert items(client, portal["sub"].id) == {portal["pro"].id: 1}


@pytest.mark.parametrize("quantity", ["-1", "1.5", "abc", "", "²", "1001", "99999999999999999999"])
def test_add_on_quantity_must_be_a_whole_number_in_range(client, portal, quantity):
    answer = post_form(portal["url"] + "/addon", {"subscription": portal["sub"].id,
                                                  "price": portal["seats"].id,
                                                  "quantity": quantity})
    assert answer.status == 400 and "whole number" in answer.body
    assert items(client, portal["sub"].id) == {portal["basic"].id: 1}


@pytest.mark.parametrize("kind", ["plan", "other_plan", "unknown"])
def test_add_on_form_only_takes_add_on_prices(client, portal, kind):
    price_id = {"plan": portal["basic"].id, "other_plan": portal["pro"].id,
                "unknown": "price_nope"}[kind]
    answer = post_form(portal["url"] + "/addon", {"subscription": portal["sub"].id,
                                                  "price": price_id, "quantity": "2"})
    assert answer.status == 400
    assert items(client, portal["sub"].id) == {portal["basic"].id: 1}


def test_add_on_quantity_changes_and_zero_removes_it(client, portal):
    form = {"subscription": portal["sub"].id, "price": portal["seats"].id}
    assert post_form(portal["url"] + "/addon", dict(form, quantity="3")).status == 303
    assert post_form(portal["url"] + "/addon", dict(form, quantity="2")).status == 303
    assert items(client, portal["sub"].id) == {portal["basic"].id: 1, portal["seats"].id: 2}
    assert post_form(portal["url"] + "/addon", dict(form, quantity="0")).status == 303
    assert items(client, portal["sub"].id) == {portal["basic"].id: 1}


def test_a_canceled_subscription_cannot_be_changed_in_the_portal(client, portal):
    client.v1.subscriptions.cancel(portal["sub"].id)
    answer = post_form(portal["url"] + "/plan", {"subscription": portal["sub"].id,
                                                 "price": portal["pro"].id})
    assert answer.status == 400 and "has ended" in answer.body
    assert client.v1.subscriptions.retrieve(portal["sub"].id)["items"].data[0].price.id == \
        portal["basic"].id
