"""The emulator's state and services, shared by the API, the hosted pages and the CLI."""
from __future__ import annotations

import logging
from typing import Any

from .config import EmulatorConfig
from .errors import resource_missing
from .store import Store
from .timeutil import real_now
from .webhooks import WebhookDispatcher

log = logging.getLogger(__name__)

LABELS = {"customer": "customer", "price": "price", "product": "product",
          "payment_method": "PaymentMethod", "checkout.session": "checkout.session",
          "subscription": "subscription", "subscription_item": "subscription item",
          "invoice": "invoice", "event": "event", "webhook_endpoint": "webhook endpoint",
          "test_helpers.test_clock": "test clock", "billing_portal.session": "portal session",
          "billing_portal.configuration": "configuration"}


class Emulator:
    """One emulated Stripe account: store, configuration and webhook dispatcher."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.store = Store(self.config.db_path)
        self.lock = self.store.lock
        self.webhooks = WebhookDispatcher(self)
        self.last_seen_url: str | None = None  # the URL the API was last called on

    def public_url(self) -> str:
        """Base of hosted-page URLs: --public-url, else the URL the API was last called on."""
        return (self.config.public_url or self.last_seen_url or "http://127.0.0.1:12111").rstrip("/")

    def fetch(self, kind: str, obj_id: str | None, param: str = "id",
              allow_deleted: bool = False) -> dict[str, Any]:
        """The stored object of `kind`, or a Stripe 404 resource_missing."""
        obj = self.store.get(obj_id or "", kind)
        if obj is None or (obj.get("deleted") and not allow_deleted):
            raise resource_missing(LABELS.get(kind, kind), obj_id or "", param)
        return obj

    def clock_now(self, clock_id: str | None) -> int:
        """Now on a test clock (its frozen_time), or the wall clock when there is none."""
        if clock_id:
            clock = self.store.get(clock_id, "test_helpers.test_clock")
            if clock is not None:
                return int(clock["frozen_time"])
        return real_now()

    def customer_clock(self, customer_id: str | None) -> str | None:
        """The test clock a customer lives on, if any."""
        customer = self.store.get(customer_id or "", "customer")
        return customer.get("test_clock") if customer else None

    def customer_now(self, customer_id: str | None) -> int:
        """Now for a customer: its test clock's time, else the wall clock."""
        return self.clock_now(self.customer_clock(customer_id))

    def start(self) -> None:
        """Start background work (webhook delivery)."""
        self.webhooks.start()

    def close(self) -> None:
        """Stop background work and close the store."""
        self.webhooks.stop()
        self.store.close()
