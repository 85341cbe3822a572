"""Prorations (previews, always_invoice, pending credits), hosted invoice links, card details and
portal configurations, each as Stripe does them."""
from __future__ import annotations

import json

import pytest
import stripe

from emulator_testkit import get, make_price, post_form
from test_billing_clock import DAY, T0, advance, subscribe_on_clock
from test_shapes import fixtures, mismatches, raw

HALF = T0 + 31 * DAY // 2  # halfway through January (the first period runs Jan 1 → Feb 1)


def change_params(sub, price, behaviour, when=HALF):
    return {"items": [{"id": sub.items.data[0].id, "price": price.id}],
            "proration_behavior": behaviour, "proration_date": when}


def test_upgrade_with_always_invoice_charges_exactly_the_previewed_prorations_now(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    clock, customer, sub = subscribe_on_clock(client, basic)
    advance(client, clock, HALF)
    params = change_params(sub, pro, "always_invoice")
    preview = client.v1.invoices.create_preview(params={"subscription": sub.id,
                                                        "subscription_details": params})
    assert preview.amount_due == 2900 // 2 - 900 // 2 == 1000
    assert preview.billing_reason == "subscription_update"
    assert all(line.parent.subscription_item_details.proration for line in preview.lines.data)
    assert preview.hosted_invoice_url is None and preview.invoice_pdf is None
    client.v1.subscriptions.update(sub.id, params=params)
    invoice = client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert (invoice.billing_reason, invoice.status) == ("subscription_update", "paid")
    assert invoice.amount_paid == preview.amount_due
    assert sorted(line.amount for line in invoice.lines.data) == [-450, 1450]


def test_downgrade_credit_larger_than_the_next_invoice_stays_on_the_customer_balance(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    clock, customer, sub = subscribe_on_clock(client, pro)
    advance(client, clock, HALF)
    params = change_params(sub, basic, "create_prorations")
    preview = client.v1.invoices.create_preview(params={"subscription": sub.id,
                                                        "subscription_details": params})
    assert preview.total == -1450 + 450 + 900 and preview.amount_due == 0
    assert preview.ending_balance == -100
    client.v1.subscriptions.update(sub.id, params=params)
    assert len(client.v1.invoices.list(params={"subscription": sub.id}).data) == 1  # nothing now
    advance(client, clock, T0 + 31 * DAY + 60)
    renewal = client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert (renewal.amount_due, renewal.total, renewal.ending_balance) == \
        (preview.amount_due, preview.total, preview.ending_balance)
    assert client.v1.customers.retrieve(customer.id).balance == -100
    nxt = client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert (nxt.amount_due, nxt.starting_balance) == (800, -100)


def test_downgrade_preview_equals_the_next_renewal_invoice(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    clock, customer, sub = subscribe_on_clock(client, pro)
    late = T0 + 25 * DAY
    advance(client, clock, late)
    params = change_params(sub, basic, "create_prorations", late)
    preview = client.v1.invoices.create_preview(params={"subscription": sub.id,
                                                        "subscription_details": params})
    client.v1.subscriptions.update(sub.id, params=params)
    advance(client, clock, T0 + 31 * DAY + 60)
    renewal = client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert renewal.amount_paid == preview.amount_due == 900 - 561 + 174  # 6 of 31 days left
    assert [line.amount for line in renewal.lines.data] == [line.amount for line in preview.lines.data]


def test_no_prorations_with_none_or_while_trialing(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    clock, customer, sub = subscribe_on_clock(client, basic)
    advance(client, clock, HALF)
    client.v1.subscriptions.update(sub.id, params=change_params(sub, pro, "none"))
    assert client.v1.invoices.create_preview(params={"subscription": sub.id}).amount_due == 2900
    _, _, trial = subscribe_on_clock(client, basic, trial_days=14)
    preview = client.v1.invoices.create_preview(params={"subscription": trial.id, "subscription_details": {
        "items": [{"id": trial.items.data[0].id, "price": pro.id}]}})
    assert preview.amount_due == 2900 and preview.period_end == trial.trial_end


def test_a_proration_date_outside_the_period_or_a_bad_behaviour_is_refused(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    clock, customer, sub = subscribe_on_clock(client, basic)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.subscriptions.update(sub.id, params=change_params(sub, pro, "always_invoice",
                                                                    T0 + 40 * DAY))
    assert err.value.param == "proration_date"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": {
            "proration_behavior": "sometimes"}})
    assert "proration_behavior" in err.value.param
    assert client.v1.subscriptions.retrieve(sub.id).items.data[0].price.id == basic.id


def test_preview_of_a_subscription_that_cancels_has_no_upcoming_invoice(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client, "Basic", 900))
    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert err.value.code == "invoice_upcoming_none"
    resumed = client.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_details": {
        "cancel_at_period_end": False}})
    assert resumed.amount_due == 900


def test_finalized_invoices_link_to_a_hosted_page_and_a_pdf_behind_a_token(client, server):
    clock, customer, sub = subscribe_on_clock(client, make_price(client, "Basic", 900))
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.hosted_invoice_url.startswith(server.url + "/i/")
    page = get(invoice.hosted_invoice_url)
    assert page.status == 200 and invoice.number in page.body and "9.00 USD" in page.body
    pdf = get(invoice.invoice_pdf)
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.body.startswith("%PDF-1.4") and invoice.number in pdf.body
    assert pdf.body.rstrip().endswith("%%EOF")
    assert get(invoice.hosted_invoice_url[:-3] + "xyz").status == 404
    assert get(f"{server.url}/i/{invoice.id}/").status == 404


def test_the_default_payment_method_expands_to_its_card_details(client):
    clock, customer, sub = subscribe_on_clock(client, make_price(client, "Basic", 900))
    got = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["default_payment_method"]})
    card = got.default_payment_method.card
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_mastercard"}})
    client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    again = client.v1.customers.retrieve(customer.id, params={
        "expand": ["invoice_settings.default_payment_method"]})
    assert again.invoice_settings.default_payment_method.card.last4 == "4444"


def plan_config(client, *prices, **features):
    products = [{"product": p.product, "prices": [p.id]} for p in prices]
    return client.v1.billing_portal.configurations.create(params={"features": {
        "subscription_update": {"enabled": True, "default_allowed_updates": ["price"],
                                "products": products, "proration_behavior": "always_invoice"},
        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
        "payment_method_update": {"enabled": True}, "invoice_history": {"enabled": True},
        **features}, "metadata": {"app": "test"}})


def test_portal_configurations_are_created_listed_updated_and_shaped_like_stripes(client, server):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    config = plan_config(client, basic, pro)
    assert config.is_default is False and config.active is True
    assert [p.prices for p in config.features.subscription_update.products] == [[basic.id], [pro.id]]
    listed = client.v1.billing_portal.configurations.list(params={"active": True})
    assert [c.id for c in listed.data] == [config.id]
    updated = client.v1.billing_portal.configurations.update(config.id, params={
        "features": {"subscription_update": {"products": [{"product": pro.product, "prices": [pro.id]}]}},
        "metadata": {"version": "2"}})
    assert [p.product for p in updated.features.subscription_update.products] == [pro.product]
    assert updated.features.subscription_update.enabled
    assert updated.metadata.to_dict() == {"app": "test", "version": "2"}
    assert mismatches(raw(server, f"/v1/billing_portal/configurations/{config.id}"), fixtures()) == []


def test_portal_configuration_mistakes_are_400s_that_change_nothing(client):
    basic, other = make_price(client, "Basic", 900), make_price(client, "Other", 100)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing_portal.configurations.create(params={"features": {
            "subscription_update": {"enabled": True, "default_allowed_updates": ["price"]}}})
    assert err.value.param == "features[subscription_update][products]"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing_portal.configurations.create(params={"features": {"subscription_update": {
            "enabled": True, "default_allowed_updates": ["price"],
            "products": [{"product": basic.product, "prices": [other.id]}]}}})
    assert "does not belong" in err.value.user_message
    assert client.v1.billing_portal.configurations.list().data == []


def test_a_portal_session_offers_only_its_configurations_prices_and_features(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    hidden = make_price(client, "Hidden", 5000)
    clock, customer, sub = subscribe_on_clock(client, basic)
    config = plan_config(client, basic, pro)
    session = client.v1.billing_portal.sessions.create(params={
        "customer": customer.id, "configuration": config.id, "return_url": "http://app.test/billing"})
    assert session.configuration == config.id
    page = get(session.url)
    assert pro.id in page.body and hidden.id not in page.body and 'id="invoice-history"' in page.body
    refused = post_form(session.url + "/plan", {"subscription": sub.id, "price": hidden.id})
    assert refused.status == 400 and "does not offer that price" in refused.body
    assert post_form(session.url + "/plan", {"subscription": sub.id, "price": pro.id}).status == 303
    latest = client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    assert latest.billing_reason == "subscription_update" and latest.amount_paid == 2000  # always_invoice
    bare = client.v1.billing_portal.configurations.create(params={"features": {
        "invoice_history": {"enabled": True}}})
    locked = client.v1.billing_portal.sessions.create(params={"customer": customer.id,
                                                             "configuration": bare.id})
    body = get(locked.url).body
    assert 'value="change_plan"' not in body and 'value="cancel"' not in body
    assert 'value="update_card"' not in body
    assert post_form(locked.url + "/cancel", {"subscription": sub.id}).status == 403
    assert client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False


def test_without_any_configuration_a_default_one_allows_every_plan(client):
    basic, pro = make_price(client, "Basic", 900), make_price(client, "Pro", 2900)
    clock, customer, sub = subscribe_on_clock(client, basic)
    session = client.v1.billing_portal.sessions.create(params={"customer": customer.id})
    default = client.v1.billing_portal.configurations.list(params={"is_default": True}).data
    assert [c.id for c in default] == [session.configuration]
    assert pro.id in get(session.url).body
    assert json.loads(json.dumps(default[0].features.subscription_update.to_dict()))["enabled"]
