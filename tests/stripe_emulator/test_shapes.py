"""Shape conformance: every object the emulator serves has every top-level key of Stripe's own
example (fixtures3.json) for its `object` type, with the same JSON types (null allowed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from emulator_testkit import card, http, make_price, post_form

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "stripe" / "fixtures3.json"


def fixtures() -> dict[str, Any]:
    """Stripe's example objects by `object` type."""
    for candidate in (FIXTURES, Path("../shared/stripe/fixtures3.json"),
                      Path("/work/shared/stripe/fixtures3.json")):
        if candidate.exists():
            return json.loads(candidate.read_text())["resources"]
    pytest.skip("fixtures3.json not found next to the project")


def json_type(value: Any) -> str:
    """JSON type name (bool is not a number)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def embedded(obj: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every nested Stripe object (a dict with an `object` key) inside obj, with its path."""
    if isinstance(obj, dict):
        if isinstance(obj.get("object"), str) and obj["object"] != "list":
            yield path, obj
        for key, value in obj.items():
            if key != "previous_attributes":
                yield from embedded(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from embedded(value, f"{path}[{i}]")


def mismatches(obj: dict[str, Any], reference: dict[str, dict[str, Any]]) -> list[str]:
    """How obj (and every object embedded in it) differs from Stripe's example."""
    problems = []
    for path, found in embedded(obj):
        kind = ("deleted_" if found.get("deleted") else "") + found["object"]
        example = reference.get(kind)
        if example is None:
            problems.append(f"{path}: no fixture for {kind}")
            continue
        for key, expected in example.items():
            if key not in found:
                problems.append(f"{path} ({kind}): missing key {key}")
            elif expected is not None and found[key] is not None and \
                    json_type(found[key]) != json_type(expected):
                problems.append(f"{path} ({kind}).{key}: {json_type(found[key])} "
                                f"!= {json_type(expected)}")
    return problems


def raw(server, path: str) -> dict[str, Any]:
    """GET an API path as plain JSON."""
    answer = http("GET", server.url + path, headers={"Authorization": "Bearer sk_test_x"})
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


def raw_delete(server, path: str) -> dict[str, Any]:
    """DELETE an API path as plain JSON."""
    answer = http("DELETE", server.url + path, headers={"Authorization": "Bearer sk_test_x"})
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


def test_every_served_object_matches_stripes_fixture_shape(client, server):
    reference = fixtures()
    price = make_price(client, "Shape plan")
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1767225600})
    customer = client.v1.customers.create(params={"email": "s@example.com", "test_clock": clock.id})
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": customer.id, "success_url": "http://app.test/",
        "line_items": [{"price": price.id, "quantity": 1}],
        "subscription_data": {"trial_period_days": 3}})
    assert post_form(session.url, card("4242424242424242")).status == 303
    client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": 1767225600 + 5 * 86400})
    sub = client.v1.subscriptions.list().data[0]
    portal = client.v1.billing_portal.sessions.create(params={"customer": customer.id})
    endpoint = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/h",
                                                          "enabled_events": ["*"]})
    spare = client.v1.customers.create()
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})

    served = {
        "product": raw(server, f"/v1/products/{price.product}"),
        "price": raw(server, f"/v1/prices/{price.id}"),
        "customer": raw(server, f"/v1/customers/{customer.id}"),
        "payment_method": raw(server, f"/v1/payment_methods/{pm.id}"),
        "checkout.session": raw(server, f"/v1/checkout/sessions/{session.id}?expand[]=line_items"),
        "item": raw(server, f"/v1/checkout/sessions/{session.id}/line_items"),
        "billing_portal.session": portal.to_dict(),
        "subscription": raw(server, f"/v1/subscriptions/{sub.id}"),
        "subscription_item": raw(server, f"/v1/subscription_items/{sub.items.data[0].id}"),
        "invoice": raw(server, f"/v1/invoices/{sub.latest_invoice}"),
        "line_item": raw(server, f"/v1/invoices/{sub.latest_invoice}/lines"),
        "event": raw(server, "/v1/events?limit=100"),
        "webhook_endpoint": raw(server, f"/v1/webhook_endpoints/{endpoint.id}"),
        "invoice_preview": client.v1.invoices.create_preview(
            params={"subscription": sub.id}).to_dict(),
        "test_helpers.test_clock": raw(server, f"/v1/test_helpers/test_clocks/{clock.id}"),
        "deleted_customer": raw_delete(server, f"/v1/customers/{spare.id}"),
        "deleted_webhook_endpoint": raw_delete(server, f"/v1/webhook_endpoints/{endpoint.id}"),
        "deleted_test_helpers.test_clock": raw_delete(
            server, f"/v1/test_helpers/test_clocks/{clock.id}"),
    }
    seen = {("deleted_" if o.get("deleted") else "") + o["object"]
            for obj in served.values() for _, o in embedded(obj)}
    assert set(served) <= seen | {"item", "line_item", "invoice_preview"}
    assert {"plan", "subscription_item", "line_item", "item", "invoice", "subscription",
            "checkout.session", "customer"} <= seen
    problems = [p for name, obj in served.items() for p in mismatches(obj, reference)]
    assert problems == []


def test_deleted_product_matches_fixture(client, server):
    product = client.v1.products.create(params={"name": "Gone"})
    assert mismatches(raw_delete(server, f"/v1/products/{product.id}"), fixtures()) == []
