"""Webhook delivery: signatures, retries, pending_webhooks, endpoints, event listing."""
from __future__ import annotations

import threading
import time

import pytest
import stripe

from emulator_testkit import Receiver, get, http


def test_every_delivery_is_signed_so_construct_event_accepts_it(client, server, receiver):
    client.v1.customers.create(params={"email": "signed@example.com"})
    assert server.wait_for_webhooks(5)
    event = receiver.events()[0]
    assert event["type"] == "customer.created"
    assert event["data"]["object"]["email"] == "signed@example.com"
    header = receiver.deliveries[0].signature
    assert stripe.WebhookSignature.verify_header(receiver.deliveries[0].body, header,
                                                 receiver.secret, tolerance=300)


def test_a_wrong_secret_does_not_verify(client, server, receiver):
    client.v1.customers.create()
    server.wait_for_webhooks(5)
    delivery = receiver.deliveries[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.signature, "whsec_other")


def test_webhook_is_retried_after_receiver_answers_500(client, server, receiver):
    receiver.statuses = [500]
    customer = client.v1.customers.create()
    assert server.wait_for_webhooks(5)
    assert len(receiver.deliveries) == 2
    assert receiver.events()[0]["id"] == receiver.events()[1]["id"]
    event = client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert event.data.object.id == customer.id
    assert event.pending_webhooks == 0
    page = get(server.url + f"/events/{event.id}")
    assert "500" in page.body and "boom" in page.body


def test_pending_webhooks_counts_undelivered_then_gives_up_after_schedule(client, server, receiver):
    receiver.statuses = [500, 500, 500, 500]
    client.v1.customers.create()
    event = client.v1.events.list().data[0]
    assert event.pending_webhooks == 1
    assert server.wait_for_webhooks(5)
    assert len(receiver.deliveries) == 3  # first attempt + two retries (0.05 s, 0.1 s)
    assert client.v1.events.retrieve(event.id).pending_webhooks == 0


def test_endpoint_enabled_events_filter_what_it_receives(client, server):
    with Receiver() as other:
        endpoint = client.v1.webhook_endpoints.create(params={
            "url": other.url, "enabled_events": ["invoice.paid", "customer.created"]})
        assert endpoint.secret.startswith("whsec_") and endpoint.status == "enabled"
        other.secret = endpoint.secret
        client.v1.customers.create()
        client.v1.products.create(params={"name": "Not sent"})
        server.wait_for_webhooks(5)
        assert other.types() == ["customer.created"]
        assert other.events()[0]["type"] == "customer.created"  # verified with its own secret


def test_webhook_endpoints_crud(client):
    made = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/hook",
                                                      "enabled_events": ["*"]})
    assert client.v1.webhook_endpoints.retrieve(made.id).url == "http://127.0.0.1:9/hook"
    updated = client.v1.webhook_endpoints.update(made.id, params={"disabled": True,
                                                                  "enabled_events": ["invoice.paid"]})
    assert (updated.status, updated.enabled_events) == ("disabled", ["invoice.paid"])
    assert [w.id for w in client.v1.webhook_endpoints.list().data] == [made.id]
    assert client.v1.webhook_endpoints.delete(made.id).deleted is True
    assert client.v1.webhook_endpoints.list().data == []


def test_unknown_enabled_event_is_refused(client):
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/",
                                                   "enabled_events": ["not.an.event"]})
    assert err.value.param == "enabled_events[0]"


def test_events_list_filters_by_type_and_created(client):
    client.v1.customers.create()
    since = int(time.time())
    client.v1.products.create(params={"name": "x"})
    assert {e.type for e in client.v1.events.list(params={"type": "customer.*"}).data} == \
        {"customer.created"}
    recent = client.v1.events.list(params={"created": {"gte": since}})
    assert all(e.created >= since for e in recent.data)


def test_event_request_records_the_idempotency_key(client):
    client.v1.customers.create(options={"idempotency_key": "evt-key"})
    event = client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert event.request.idempotency_key == "evt-key"
    assert event.request.id.startswith("req_")


def test_delivery_does_not_block_the_request_that_caused_it(client, server, receiver):
    receiver.delay = 0.4
    started = time.monotonic()
    client.v1.customers.create()
    assert time.monotonic() - started < 0.3
    assert receiver.deliveries == [] or len(receiver.deliveries) == 1
    assert server.wait_for_webhooks(5)
    assert len(receiver.deliveries) == 1


def test_events_page_lists_events_with_attempts(client, server, receiver):
    client.v1.customers.create()
    server.wait_for_webhooks(5)
    page = get(server.url + "/events")
    assert page.status == 200 and "customer.created" in page.body and receiver.url in page.body


def wait_until(check, timeout: float = 3.0) -> bool:
    """Poll `check` every 10 ms until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_delivery_state_comes_from_the_delivery_records(client, server, receiver):
    receiver.statuses = [500, 500, 500]  # the first attempt and both retries fail: given up
    client.v1.customers.create()
    assert server.wait_for_webhooks(5)
    event = client.v1.events.list().data[0]
    assert event.pending_webhooks == 0
    failed = client.v1.events.list(params={"delivery_success": False}).data
    assert [e.id for e in failed] == [event.id]
    assert client.v1.events.list(params={"delivery_success": True}).data == []
    assert "<td class=\"delivery-state\">failed</td>" in get(server.url + "/events").body
    resent = http("POST", server.url + f"/_emulator/events/{event.id}/resend",
                  headers={"Authorization": "Bearer sk_test_x"}, body=b"")
    assert resent.status == 200 and server.wait_for_webhooks(5)
    assert [e.id for e in client.v1.events.list(params={"delivery_success": True}).data] == \
        [event.id]
    assert 'id="delivery-state">delivered' in get(server.url + f"/events/{event.id}").body


def test_a_hanging_receiver_delays_only_its_own_endpoint(client, server, receiver):
    gate = threading.Event()
    with Receiver(gate=gate) as stuck, Receiver() as fine:
        for rec in (stuck, fine):
            rec.secret = client.v1.webhook_endpoints.create(params={
                "url": rec.url, "enabled_events": ["customer.created"]}).secret
        try:
            made = [client.v1.customers.create(params={"name": f"c{i}"}).id for i in range(3)]
            assert wait_until(lambda: len(fine.deliveries) == 3 and len(receiver.deliveries) == 3)
            assert [e["data"]["object"]["id"] for e in fine.events()] == made  # in creation order
            assert stuck.deliveries == []
            event = client.v1.events.list(params={"type": "customer.created"}).data[0]
            assert event.pending_webhooks == 1  # per endpoint: only the stuck one is pending
        finally:
            gate.set()
        assert server.wait_for_webhooks(5)
        assert [e["data"]["object"]["id"] for e in stuck.events()] == made
        assert client.v1.events.retrieve(event.id).pending_webhooks == 0


def test_a_failing_endpoint_retries_on_schedule_without_holding_up_the_next_events(client, server,
                                                                                   receiver):
    with Receiver(statuses=[500, 500]) as flaky:
        flaky.secret = client.v1.webhook_endpoints.create(params={
            "url": flaky.url, "enabled_events": ["customer.created"]}).secret
        first, second = (client.v1.customers.create().id for _ in range(2))
        assert server.wait_for_webhooks(5)
        order = [e["data"]["object"]["id"] for e in flaky.events()]
        assert sorted(order) == sorted([first, first, second, second])  # one retry each
        assert order.index(first) < order.index(second)  # first attempts in creation order
        assert [e["data"]["object"]["id"] for e in receiver.events()] == [first, second]
        assert client.v1.events.list(params={"delivery_success": False}).data == []
