"""Wire protocol: auth, errors, parameters, idempotency, lists, expand — through the real library."""
from __future__ import annotations

import json

import pytest
import stripe

from emulator_testkit import http, make_price


def api(server, method: str, path: str, body: str | None = None, key: str = "sk_test_x",
        headers: dict[str, str] | None = None):
    """A raw API call, to see exactly what goes over the wire."""
    all_headers = {"Authorization": f"Bearer {key}"} if key else {}
    if body is not None:
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    all_headers.update(headers or {})
    answer = http(method, server.url + path, headers=all_headers,
                  body=body.encode() if body is not None else None)
    return answer.status, json.loads(answer.body), answer.headers


def test_missing_key_is_401_in_stripe_error_shape(server):
    status, body, _ = api(server, "GET", "/v1/customers", key="")
    assert status == 401
    assert set(body["error"]) >= {"type", "code", "message", "param"}
    assert body["error"]["type"] == "invalid_request_error"


def test_non_test_key_is_rejected_by_the_library_as_authentication_error(server):
    bad = stripe.StripeClient("pk_test_nope", base_addresses={"api": server.url},
                              max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.list()


def test_live_key_is_refused_with_a_test_mode_only_message(server):
    live = stripe.StripeClient("sk_live_realmoney", base_addresses={"api": server.url},
                               max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError) as err:
        live.v1.customers.list()
    assert "test mode only" in err.value.user_message


def test_unknown_parameter_is_refused_as_parameter_unknown(client):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create(params={"email": "a@example.com", "nickname": "x"})
    assert err.value.http_status == 400
    assert err.value.code == "parameter_unknown"
    assert err.value.param == "nickname"


def test_unknown_nested_parameter_names_its_bracket_path(client):
    product = client.v1.products.create(params={"name": "P"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.prices.create(params={"product": product.id, "currency": "usd",
                                        "unit_amount": 5, "recurring": {"interval": "month",
                                                                        "colour": "red"}})
    assert err.value.param == "recurring[colour]"
    assert err.value.code == "parameter_unknown"


def test_missing_required_parameter_is_parameter_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.prices.create(params={"unit_amount": 5})
    assert (err.value.code, err.value.param) == ("parameter_missing", "currency")


def test_wrong_types_are_parameter_invalid_integer_and_boolean(server):
    status, body, _ = api(server, "POST", "/v1/prices", "currency=usd&unit_amount=lots")
    assert status == 400
    assert body["error"]["code"] == "parameter_invalid_integer"
    assert body["error"]["param"] == "unit_amount"
    status, body, _ = api(server, "GET", "/v1/customers?limit=ten")
    assert (status, body["error"]["code"]) == (400, "parameter_invalid_integer")
    status, body, _ = api(server, "POST", "/v1/products", "name=x&active=maybe")
    assert (status, body["error"]["code"]) == (400, "parameter_invalid_boolean")


@pytest.mark.parametrize("method,path,body,param,code", [
    ("GET", "/v1/customers?limit=0", None, "limit", "parameter_invalid_integer"),
    ("GET", "/v1/customers?limit=101", None, "limit", "parameter_invalid_integer"),
    ("GET", "/v1/customers?limit=-1", None, "limit", "parameter_invalid_integer"),
    ("GET", "/v1/customers?limit=2.5", None, "limit", "parameter_invalid_integer"),
    ("GET", "/v1/customers?limit=%C2%B2", None, "limit", "parameter_invalid_integer"),
    ("POST", "/v1/prices", "currency=usd&unit_amount=-5&product_data[name]=x", "unit_amount",
     "parameter_invalid_integer"),
    ("POST", "/v1/prices", "currency=usd&unit_amount=1e3&product_data[name]=x", "unit_amount",
     "parameter_invalid_integer"),
    ("POST", "/v1/prices", "currency=usd&unit_amount=" + "9" * 5000 + "&product_data[name]=x",
     "unit_amount", "parameter_invalid_integer"),
    ("POST", "/v1/prices", "currency=usd&unit_amount=100000000&product_data[name]=x",
     "unit_amount", "parameter_invalid_integer"),
    ("POST", "/v1/prices", "currency=usd&unit_amount_decimal=NaN&product_data[name]=x",
     "unit_amount_decimal", "parameter_invalid_decimal"),
    ("POST", "/v1/prices", "currency=usd&unit_amount_decimal=Infinity&product_data[name]=x",
     "unit_amount_decimal", "parameter_invalid_decimal"),
    ("POST", "/v1/prices", "currency=usd&unit_amount=5&product_data[name]=x&recurring[interval]="
     "month&recurring[interval_count]=-1", "recurring[interval_count]",
     "parameter_invalid_integer"),
    ("POST", "/v1/test_helpers/test_clocks", "frozen_time=99999999999999999", "frozen_time",
     "parameter_invalid_integer"),
    ("POST", "/v1/test_helpers/test_clocks", "frozen_time=-1", "frozen_time",
     "parameter_invalid_integer"),
    ("POST", "/v1/test_helpers/test_clocks", "frozen_time=1.5", "frozen_time",
     "parameter_invalid_integer"),
    ("POST", "/v1/checkout/sessions", "mode=subscription&line_items[0][price]=p&"
     "line_items[0][quantity]=-2", "line_items[0][quantity]", "parameter_invalid_integer"),
    ("POST", "/v1/customers", "balance=12.5", "balance", "parameter_invalid_integer"),
    ("POST", "/v1/products", "name=x&active=TRUE", "active", "parameter_invalid_boolean"),
    ("POST", "/v1/products", "name=x&active=1", "active", "parameter_invalid_boolean"),
    ("POST", "/v1/products", "name=x&active[]=true", "active", "parameter_invalid_boolean"),
])
def test_numbers_and_booleans_are_checked_as_stripe_checks_them(server, method, path, body,
                                                               param, code):
    status, answer, _ = api(server, method, path, body)
    assert status == 400, answer
    assert (answer["error"]["code"], answer["error"]["param"]) == (code, param)


def test_integer_limits_from_stripe_apply_to_subscriptions(client):
    customer = client.v1.customers.create(params={"payment_method": "pm_card_visa"})
    price = make_price(client)
    for params, param in (({"trial_period_days": 731}, "trial_period_days"),
                          ({"trial_period_days": 10 ** 12}, "trial_period_days"),
                          ({"cancel_at": 10 ** 15}, "cancel_at")):
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.subscriptions.create(params={"customer": customer.id,
                                                   "items": [{"price": price.id}], **params})
        assert (err.value.code, err.value.param) == ("parameter_invalid_integer", param)
    assert client.v1.customers.update(customer.id, params={"balance": -500}).balance == -500


def test_billing_past_the_year_9999_is_refused_not_a_crash(client):
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": 253402000000})
    customer = client.v1.customers.create(params={"test_clock": clock.id,
                                                  "payment_method": "pm_card_visa"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.subscriptions.create(params={"customer": customer.id,
                                               "items": [{"price": make_price(client).id}]})
    assert err.value.http_status == 400 and "9999" in err.value.user_message


def test_invalid_enum_value_is_a_400_naming_the_parameter(server):
    status, body, _ = api(server, "POST", "/v1/prices",
                          "currency=usd&unit_amount=5&recurring[interval]=fortnight&product_data[name]=x")
    assert status == 400
    assert body["error"]["param"] == "recurring[interval]"
    assert "must be one of" in body["error"]["message"]


def test_unknown_id_is_404_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    assert "cus_doesnotexist" in err.value.user_message


def test_unknown_url_is_404_in_stripe_error_shape(server):
    status, body, _ = api(server, "GET", "/v1/teapots")
    assert status == 404
    assert "Unrecognized request URL" in body["error"]["message"]


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/customers", "metadata[a][b]=1"),
    ("POST", "/v1/customers", "metadata=1&metadata[a]=2"),
    ("POST", "/v1/customers", "email[]=a"),
    ("POST", "/v1/customers", "a]b=1"),
    ("POST", "/v1/checkout/sessions", "mode=subscription&line_items=oops"),
    ("POST", "/v1/checkout/sessions", "mode=subscription&line_items[x][price]=p"),
    ("POST", "/v1/checkout/sessions", "mode=subscription&line_items[0][price]=price_nope&line_items[0][quantity]=1"),
    ("POST", "/v1/subscriptions/sub_nope", "cancel_at_period_end=true"),
    ("POST", "/v1/test_helpers/test_clocks/clock_nope/advance", "frozen_time=10"),
    ("GET", "/v1/events?created[gte]=yesterday", None),
    ("GET", "/v1/customers?starting_after=cus_nope", None),
    ("GET", "/v1/customers?limit=1000", None),
    ("GET", "/v1/customers/cus_x?expand[]=nothing", None),
    ("DELETE", "/v1/webhook_endpoints/we_nope", None),
    ("POST", "/v1/invoices/in_nope/pay", ""),
    ("POST", "/v1/payment_methods", "type=card&card[number]=1234&card[exp_month]=1&card[exp_year]=30"),
    ("PUT", "/v1/customers", ""),
    ("GET", "/v1/customers?expand[%C2%B2]=x&expand[]=y", None),
    ("POST", "/v1/payment_methods", "type=card&card[number]=%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2"
     "%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2%C2%B2&card[exp_month]=1&card[exp_year]=30"),
    ("POST", "/v1/products", "name=x&package_dimensions[height]=1e999999&"
     "package_dimensions[length]=1&package_dimensions[weight]=1&package_dimensions[width]=1"),
    ("POST", "/v1/webhook_endpoints", "url[x]=1&enabled_events[]=*"),
])
def test_bad_input_gets_stripe_error_shape_never_500(server, method, path, body):
    status, answer, _ = api(server, method, path, body)
    assert 400 <= status < 500
    assert set(answer["error"]) >= {"type", "code", "message", "param"}


def test_form_brackets_decode_metadata_and_nested_lists(client):
    price = make_price(client)
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "success_url": "http://app.test/ok", "cancel_url": "http://app.test/no",
        "line_items": [{"price": price.id, "quantity": 3}], "metadata": {"plan": "pro", "tenant": "7"},
        "client_reference_id": "tenant-7"})
    assert session.metadata.to_dict() == {"plan": "pro", "tenant": "7"}
    assert session.amount_total == 3 * 2900
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert items.data[0].quantity == 3


def test_metadata_key_set_to_empty_string_is_removed(client):
    customer = client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})
    updated = client.v1.customers.update(customer.id, params={"metadata": {"a": ""}})
    assert updated.metadata.to_dict() == {"b": "2"}


def test_idempotency_key_replays_the_first_response(server, client):
    first = client.v1.customers.create(params={"email": "same@example.com"},
                                       options={"idempotency_key": "key-1"})
    second = client.v1.customers.create(params={"email": "same@example.com"},
                                        options={"idempotency_key": "key-1"})
    assert first.id == second.id
    assert len(client.v1.customers.list().data) == 1
    _, _, headers = api(server, "POST", "/v1/customers", "email=same%40example.com",
                        headers={"Idempotency-Key": "key-1"})
    assert headers.get("Idempotent-Replayed") == "true"


def test_idempotency_key_with_different_parameters_is_idempotency_error(client):
    client.v1.customers.create(params={"email": "one@example.com"},
                               options={"idempotency_key": "key-2"})
    with pytest.raises(stripe.IdempotencyError) as err:
        client.v1.customers.create(params={"email": "two@example.com"},
                                   options={"idempotency_key": "key-2"})
    assert err.value.http_status == 400


def test_list_pagination_limit_starting_after_ending_before(client):
    created = [client.v1.customers.create(params={"name": f"c{i}"}).id for i in range(5)]
    newest_first = list(reversed(created))
    page = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page.data] == newest_first[:2]
    assert page.has_more is True and page.url == "/v1/customers"
    nxt = client.v1.customers.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert [c.id for c in nxt.data] == newest_first[2:4]
    back = client.v1.customers.list(params={"limit": 2, "ending_before": nxt.data[0].id})
    assert [c.id for c in back.data] == newest_first[:2]
    assert [c.id for c in page.auto_paging_iter()] == newest_first


def test_expand_replaces_ids_with_objects(client):
    price = make_price(client, "Expandable")
    expanded = client.v1.prices.retrieve(price.id, params={"expand": ["product"]})
    assert expanded.product.name == "Expandable"
    listed = client.v1.prices.list(params={"expand": ["data.product"]})
    assert listed.data[0].product.object == "product"


def test_lookup_keys_filter_and_transfer_lookup_key(client):
    old = make_price(client, "Pro", 2900, lookup_key="pro")
    with pytest.raises(stripe.InvalidRequestError):
        make_price(client, "Pro", 3900, lookup_key="pro")
    product = client.v1.products.retrieve(old.product)
    new = client.v1.prices.create(params={"product": product.id, "currency": "usd",
                                          "unit_amount": 3900, "lookup_key": "pro",
                                          "transfer_lookup_key": True,
                                          "recurring": {"interval": "month"}})
    found = client.v1.prices.list(params={"lookup_keys": ["pro"]})
    assert [p.id for p in found.data] == [new.id]
    assert client.v1.prices.retrieve(old.id).lookup_key is None


def test_responses_carry_request_id_and_stripe_version(server):
    _, _, headers = api(server, "GET", "/v1/products", headers={"Stripe-Version": "2026-10-28.endive"})
    assert headers["Request-Id"].startswith("req_")
    assert headers["Stripe-Version"] == "2026-10-28.endive"


def test_products_update_list_and_delete(client):
    product = client.v1.products.create(params={"name": "Old"})
    client.v1.products.update(product.id, params={"name": "New", "active": False})
    assert client.v1.products.list(params={"active": False}).data[0].name == "New"
    deleted = client.v1.products.delete(product.id)
    assert deleted.deleted is True


def test_global_api_base_configuration_works_too(server, monkeypatch):
    monkeypatch.setattr(stripe, "api_base", server.url)
    monkeypatch.setattr(stripe, "api_key", "sk_test_global")
    customer = stripe.Customer.create(email="global@example.com")
    assert stripe.Customer.retrieve(customer.id).email == "global@example.com"


def test_attaching_a_declining_test_card_is_a_402_card_error(client):
    customer = client.v1.customers.create()
    with pytest.raises(stripe.CardError) as err:
        client.v1.payment_methods.attach("pm_card_chargeDeclinedInsufficientFunds",
                                         params={"customer": customer.id})
    assert err.value.http_status == 402
    assert (err.value.code, err.value.error.decline_code) == ("card_declined", "insufficient_funds")
    attached = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    assert (attached.customer, attached.card.last4, attached.card.brand) == \
        (customer.id, "4242", "visa")
    listed = client.v1.customers.payment_methods.list(customer.id)
    assert [pm.id for pm in listed.data] == [attached.id]


def test_basic_auth_with_the_key_as_user_is_accepted(server):
    import base64
    token = base64.b64encode(b"sk_test_basic:").decode()
    answer = http("GET", server.url + "/v1/customers", headers={"Authorization": f"Basic {token}"})
    assert answer.status == 200
