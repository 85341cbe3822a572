"""The only module that imports stripe: one gateway per app, plain dicts out, domain errors on failure."""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import requests
import stripe
from flask import Flask, current_app

from webapp.errors import BillingUnavailable, StripeRequestFailed, WebhookRejected
from webapp.input_policy import MAX_JSON_DEPTH, nested_deeper_than

log = logging.getLogger(__name__)

WEBHOOK_TOLERANCE_SECONDS = 300
NESTED_TOO_DEEP = f"The event nests deeper than {MAX_JSON_DEPTH} levels."
T = TypeVar("T")


class StripeGateway:
    """Wraps StripeClient with timeouts, network retries and an idempotency key on every create.

    Each thread gets its own StripeClient and requests session (a session is not safe to share
    between threads; stripe-python itself keeps one per thread). The session does not read the
    environment on every request (requests' trust_env: os.environ scanned for proxies and ~/.netrc
    looked up per call, a quarter of a retrieve's client CPU): the environment's proxy for the API
    base is resolved once, here, and passed explicitly (`_environment_proxy`).
    """

    def __init__(self, api_key: str | None, api_base: str | None, webhook_secret: str | None,
                 timeout: float = 15.0, max_network_retries: int = 2) -> None:
        self.api_key = api_key
        self.api_base = api_base
        self.webhook_secret = webhook_secret
        self.timeout = timeout
        self.max_network_retries = max_network_retries
        self.proxy = _environment_proxy(api_base or stripe.DEFAULT_API_BASE) if api_key else None
        self._local = threading.local()

    @property
    def configured(self) -> bool:
        """True when an API key is set."""
        return bool(self.api_key)

    @property
    def mode(self) -> str:
        """'live' for an sk_live_ key, else 'test'."""
        return "live" if (self.api_key or "").startswith(("sk_live_", "rk_live_")) else "test"

    @property
    def client(self) -> stripe.StripeClient:
        """This thread's StripeClient; BillingUnavailable when no key is configured."""
        client: stripe.StripeClient | None = getattr(self._local, "client", None)
        if client is None:
            if not self.api_key:
                raise BillingUnavailable("Billing is not configured: STRIPE_SECRET_KEY is not set (set it, or "
                                         "start the local stack with `make run`, whose emulator every command "
                                         "then uses).")
            client = self._local.client = stripe.StripeClient(
                self.api_key, base_addresses={"api": self.api_base} if self.api_base else None,
                max_network_retries=self.max_network_retries,
                http_client=stripe.RequestsClient(timeout=self.timeout, session=_session(), proxy=self.proxy))
        return client

    # --- catalog -----------------------------------------------------------------------------
    def prices_by_lookup_key(self, lookup_keys: list[str]) -> dict[str, dict[str, Any]]:
        """Active prices with these lookup keys, keyed by lookup key (product expanded)."""
        found = self._call(lambda: self.client.v1.prices.list(
            {"lookup_keys": lookup_keys, "active": True, "limit": 100, "expand": ["data.product"]}))
        prices = [_plain(p) for p in found.data]
        return {p["lookup_key"]: p for p in prices if p.get("lookup_key")}

    def create_product(self, name: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        """Create a product."""
        return _plain(self._call(lambda: self.client.v1.products.create(
            {"name": name, "metadata": metadata}, {"idempotency_key": idempotency_key})))

    def create_price(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Create a price."""
        return _plain(self._call(lambda: self.client.v1.prices.create(
            params, {"idempotency_key": idempotency_key})))  # type: ignore[arg-type]

    # --- customers, checkout, portal ---------------------------------------------------------
    def create_customer(self, email: str, name: str, tenant_id: str) -> str:
        """Create the tenant's customer; the key makes a concurrent second call return the same one."""
        customer = self._call(lambda: self.client.v1.customers.create(
            {"email": email, "name": name, "metadata": {"tenant_id": tenant_id}},
            {"idempotency_key": f"customer-{tenant_id}"}))
        return str(customer.id)

    def create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        """Create a Checkout Session in subscription mode."""
        return _plain(self._call(lambda: self.client.v1.checkout.sessions.create(
            params, {"idempotency_key": _new_key()})))  # type: ignore[arg-type]

    def expire_open_checkout_sessions(self, customer_id: str) -> list[str]:
        """Expire the customer's open Checkout Sessions (a second tab must not make a second subscription)."""
        page = self._call(lambda: self.client.v1.checkout.sessions.list(
            {"customer": customer_id, "status": "open", "limit": 100}))
        expired = []
        for session in page.data:
            try:
                self.client.v1.checkout.sessions.expire(session.id)
                expired.append(str(session.id))
            except stripe.InvalidRequestError:  # completed or expired meanwhile: nothing to do
                continue
            except stripe.StripeError as exc:
                raise _translate(exc) from exc
        return expired

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any] | None:
        """A Checkout Session by id, or None if Stripe does not know it."""
        return self._retrieve_or_none(lambda: self.client.v1.checkout.sessions.retrieve(session_id))

    def create_portal_session(self, customer_id: str, return_url: str,
                              configuration: str | None = None) -> str:
        """A Billing Portal session's URL for the customer (the account's default configuration
        unless one is named)."""
        params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
        if configuration:
            params["configuration"] = configuration
        session = self._call(lambda: self.client.v1.billing_portal.sessions.create(
            params, {"idempotency_key": _new_key()}))  # type: ignore[arg-type]
        return str(session.url)

    def list_portal_configurations(self) -> list[dict[str, Any]]:
        """The account's active Billing Portal configurations."""
        page = self._call(lambda: self.client.v1.billing_portal.configurations.list(
            {"active": True, "limit": 100}))
        return [_plain(c) for c in page.data]

    def create_portal_configuration(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Create a Billing Portal configuration."""
        return _plain(self._call(lambda: self.client.v1.billing_portal.configurations.create(
            params, {"idempotency_key": idempotency_key})))  # type: ignore[arg-type]

    def update_portal_configuration(self, config_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Update a Billing Portal configuration."""
        return _plain(self._call(lambda: self.client.v1.billing_portal.configurations.update(
            config_id, params)))  # type: ignore[arg-type]

    # --- subscriptions -----------------------------------------------------------------------
    def create_subscription(self, customer_id: str, price_id: str, tenant_id: str,
                            trial_days: int | None = None) -> dict[str, Any]:
        """Subscribe a customer that has a default card to a price directly (test data: `flask demo seed`)."""
        params: dict[str, Any] = {"customer": customer_id, "items": [{"price": price_id}],
                                  "metadata": {"tenant_id": tenant_id}}
        if trial_days:
            params["trial_period_days"] = trial_days
        return _plain(self._call(lambda: self.client.v1.subscriptions.create(
            params, {"idempotency_key": _new_key()})))  # type: ignore[arg-type]

    def create_test_customer(self, email: str, name: str, tenant_id: str, card: str,
                             test_clock: str | None = None) -> str:
        """A test-mode customer with a test card (`pm_card_…`) as default, optionally on a test clock."""
        params: dict[str, Any] = {"email": email, "name": name, "metadata": {"tenant_id": tenant_id},
                                  "payment_method": card, "invoice_settings": {"default_payment_method": card}}
        if test_clock:
            params["test_clock"] = test_clock
        customer = self._call(lambda: self.client.v1.customers.create(
            params, {"idempotency_key": _new_key()}))  # type: ignore[arg-type]
        return str(customer.id)

    def create_test_clock(self, frozen_time: int, name: str) -> str:
        """A test clock frozen at frozen_time (test mode only)."""
        clock = self._call(lambda: self.client.v1.test_helpers.test_clocks.create(
            {"frozen_time": frozen_time, "name": name}, {"idempotency_key": _new_key()}))
        return str(clock.id)

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any] | None:
        """The subscription as Stripe has it now (its card expanded), or None if Stripe does not know it.

        Read as plain JSON (`_get_json`): every applied webhook makes this call, and building
        StripeObjects only to turn them back into dicts cost more than the rest of the request.
        """
        return self._retrieve_or_none(lambda: self._get_json(
            f"/v1/subscriptions/{quote(subscription_id, safe='')}", expand=["default_payment_method"]))

    def preview_invoice(self, subscription_id: str, details: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Stripe's preview of the subscription's next invoice (with `details`: after a proposed change);
        None when Stripe says there is no upcoming invoice (the subscription ends instead)."""
        params: dict[str, Any] = {"subscription": subscription_id}
        if details:
            params["subscription_details"] = details
        try:
            return _plain(self.client.v1.invoices.create_preview(params))  # type: ignore[arg-type]
        except stripe.InvalidRequestError as exc:
            if exc.code == "invoice_upcoming_none":
                return None
            raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    def update_subscription(self, subscription_id: str, params: dict[str, Any], idempotency_key: str
                            ) -> dict[str, Any]:
        """Change a subscription (items with proration, cancel at period end, resume)."""
        return _plain(self._call(lambda: self.client.v1.subscriptions.update(
            subscription_id, params, {"idempotency_key": idempotency_key})))  # type: ignore[arg-type]

    def list_invoices(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's 100 newest invoices."""
        page = self._call(lambda: self.client.v1.invoices.list({"customer": customer_id, "limit": 100}))
        return [_plain(i) for i in page.data]

    def list_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        """Every subscription of a customer, any status, newest first (plain JSON, as retrieve_subscription)."""
        page = self._call(lambda: self._get_json("/v1/subscriptions", customer=customer_id, status="all",
                                                 limit=100))
        return list(page.get("data") or [])

    # --- webhooks ----------------------------------------------------------------------------
    def verify_event(self, raw: bytes, signature_header: str) -> dict[str, Any]:
        """Check Stripe-Signature on the exact bytes, then parse; WebhookRejected (400) otherwise."""
        if not self.webhook_secret:
            raise BillingUnavailable("STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified.")
        if not signature_header:
            raise WebhookRejected("BAD_SIGNATURE", "The Stripe-Signature header is missing.")
        try:
            stripe.WebhookSignature.verify_header(raw, signature_header, self.webhook_secret,
                                                  tolerance=WEBHOOK_TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected("BAD_SIGNATURE", f"Signature check failed: {exc.user_message}") from exc
        except (UnicodeDecodeError, ValueError) as exc:  # the library decodes the body before checking it
            raise WebhookRejected("BAD_SIGNATURE", "Signature check failed: the body is not UTF-8 text.") from exc
        if _signed_at(signature_header) > time.time() + WEBHOOK_TOLERANCE_SECONDS:  # the library checks only the past
            raise WebhookRejected("BAD_SIGNATURE", "Signature check failed: the timestamp is in the future.")
        try:
            event = json.loads(raw)
        except RecursionError as exc:  # past the interpreter's own limit: certainly past ours
            raise WebhookRejected("INVALID_EVENT", NESTED_TOO_DEEP) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected("INVALID_EVENT", "The body is not JSON.") from exc
        if nested_deeper_than(event):  # signed, but every later walk of it must stay bounded too
            raise WebhookRejected("INVALID_EVENT", NESTED_TOO_DEEP)
        if not _is_event(event):
            raise WebhookRejected("INVALID_EVENT", "The body is not a Stripe event.")
        return event

    def _get_json(self, path: str, **params: Any) -> dict[str, Any]:
        """GET an API path and return its JSON body as dicts: the client's retries, timeout, keep-alive
        session and error classes (a 404 is InvalidRequestError), without building StripeObjects."""
        data: dict[str, Any] = self.client.raw_request("get", path, **params).data
        return data

    def _retrieve_or_none(self, fn: Callable[[], Any]) -> dict[str, Any] | None:
        try:
            return _plain(fn())
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except stripe.StripeError as exc:
            raise _translate(exc) from exc


def _signed_at(signature_header: str) -> int:
    """The `t=` of a Stripe-Signature header (verified by then, so it is present and an integer)."""
    for part in signature_header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            return int(value)
    return 0


MAX_EVENT_TIMESTAMP = 2**33  # year 2242: anything larger is not a Stripe `created`


def _is_event(event: Any) -> bool:
    """The shape every Stripe event has: id, type, created (a sane unix time) and data.object."""
    return (isinstance(event, dict) and event.get("object") == "event"
            and isinstance(event.get("id"), str) and 0 < len(event["id"]) <= 255
            and isinstance(event.get("type"), str) and 0 < len(event["type"]) <= 100
            and isinstance(event.get("created"), int) and not isinstance(event.get("created"), bool)
            and 0 < event["created"] < MAX_EVENT_TIMESTAMP
            and isinstance(event.get("data"), dict) and isinstance(event["data"].get("object"), dict))


def _translate(exc: stripe.StripeError) -> Exception:
    if isinstance(exc, stripe.AuthenticationError):
        return BillingUnavailable(f"Stripe rejected the API key: {exc.user_message}")
    if isinstance(exc, stripe.APIConnectionError):
        return BillingUnavailable("Stripe did not answer; try again shortly.")
    log.warning("stripe.request_failed", extra={"stripe_code": exc.code, "http_status": exc.http_status})
    return StripeRequestFailed(f"Stripe refused the request: {exc.user_message or exc}",
                               stripe_code=exc.code)


def _environment_proxy(api_base: str) -> str | None:
    """The proxy the environment names for api_base (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, any case), or
    None when there is none or NO_PROXY covers its host: what requests would pick on each call (the
    gateway calls no other Stripe host)."""
    return requests.utils.select_proxy(api_base, requests.utils.get_environ_proxies(api_base))


def _session() -> requests.Session:
    """A requests session that takes nothing from the environment per request (proxy given explicitly;
    no .netrc: stripe sends its own Authorization; the CA bundle is stripe's, passed on every call)."""
    session = requests.Session()
    session.trust_env = False
    return session


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _new_key() -> str:
    return f"aibk-{uuid.uuid4()}"


def init_app(app: Flask) -> None:
    """Build the app's gateway from its config (no network at build time)."""
    app.extensions["stripe_gateway"] = StripeGateway(
        app.config.get("STRIPE_SECRET_KEY"), app.config.get("STRIPE_API_BASE"),
        app.config.get("STRIPE_WEBHOOK_SECRET"), timeout=app.config.get("STRIPE_TIMEOUT_SECONDS", 15.0),
        max_network_retries=app.config.get("STRIPE_MAX_NETWORK_RETRIES", 2))


def gateway() -> StripeGateway:
    """The current app's gateway."""
    gw: StripeGateway = current_app.extensions["stripe_gateway"]
    return gw
