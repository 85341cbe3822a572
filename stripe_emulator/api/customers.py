"""/v1/customers and /v1/payment_methods."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..billing import cards
from ..billing.status import cancel_now
from ..errors import invalid
from ..events import emit, emit_update
from ..listing import filter_range, list_object
from ..objects.common import set_fields
from ..objects.customers import card_from_params, new_customer, resolve_payment_method
from ..render import render
from ..timeutil import real_now
from .base import emulator, endpoint, params

bp = Blueprint("customers", __name__)
CUSTOMER_FIELDS = ("email", "name", "description", "phone", "address", "preferred_locales",
                   "tax_exempt", "balance")


@bp.post("/v1/customers")
@endpoint
def create_customer() -> dict[str, Any]:
    """Create a customer (on a test clock's time when test_clock is given)."""
    p = params("CustomerCreateParams")
    emu = emulator()
    if p.get("test_clock"):
        emu.fetch("test_helpers.test_clock", p["test_clock"], "test_clock")
    customer = new_customer(p, emu.clock_now(p.get("test_clock")))
    customer["invoice_settings"]["default_payment_method"] = None
    emu.store.put(customer)
    attached = None
    if p.get("payment_method"):
        attached = _attach(customer, p["payment_method"], "payment_method", customer["created"])
    default = (p.get("invoice_settings") or {}).get("default_payment_method")
    if default:
        if attached is not None and default == p["payment_method"]:
            default = attached["id"]
        pm = emu.fetch("payment_method", default, "invoice_settings[default_payment_method]")
        if pm["customer"] != customer["id"]:
            raise invalid("The customer does not have a payment method with the ID "
                          f"{default}. The payment method must be attached to the customer.",
                          "invoice_settings[default_payment_method]")
        customer["invoice_settings"]["default_payment_method"] = default
        emu.store.put(customer)
    emit(emu, "customer.created", render(emu, customer), created=customer["created"])
    return render(emu, customer, p.get("expand") or [])


def _attach(customer: dict[str, Any], pm_id: str, param: str, now: int) -> dict[str, Any]:
    emu = emulator()
    pm = resolve_payment_method(emu, pm_id, param, now)
    if pm["customer"] and pm["customer"] != customer["id"]:
        raise invalid("The payment method you provided has already been attached to a "
                      "customer.", param)
    failure = cards.setup_error(pm)
    if failure is not None:
        raise failure
    pm["customer"] = customer["id"]
    emu.store.put(pm)
    emit(emu, "payment_method.attached", render(emu, pm), created=now)
    return pm


@bp.get("/v1/customers/<customer_id>")
@endpoint
def retrieve_customer(customer_id: str) -> dict[str, Any]:
    """Retrieve a customer (a deleted one answers {id, object, deleted: true})."""
    p = params("CustomerRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("customer", customer_id, allow_deleted=True),
                  p.get("expand") or [])


@bp.post("/v1/customers/<customer_id>")
@endpoint
def update_customer(customer_id: str) -> dict[str, Any]:
    """Update a customer; customer.updated carries previous_attributes."""
    p = params("CustomerUpdateParams")
    emu = emulator()
    customer = emu.fetch("customer", customer_id)
    before = render(emu, customer)
    now = emu.customer_now(customer_id)
    set_fields(customer, p, CUSTOMER_FIELDS)
    settings = p.get("invoice_settings") or {}
    if "default_payment_method" in settings:
        pm_id = settings["default_payment_method"]
        if pm_id:
            pm = emu.fetch("payment_method", pm_id, "invoice_settings[default_payment_method]")
            if pm["customer"] != customer_id:
                raise invalid(f"No such PaymentMethod: '{pm_id}'; it is not attached to this "
                              "customer.", "invoice_settings[default_payment_method]")
        customer["invoice_settings"] = dict(customer["invoice_settings"],
                                            default_payment_method=pm_id)
    emu.store.put(customer)
    emit_update(emu, "customer.updated", before, render(emu, customer), created=now)
    return render(emu, customer, p.get("expand") or [])


@bp.get("/v1/customers")
@endpoint
def list_customers() -> dict[str, Any]:
    """List customers by email, test_clock or created."""
    p = params("CustomerListParams")
    emu = emulator()
    objs = emu.store.all("customer", lambda o: not o.get("deleted"))
    for field in ("email", "test_clock"):
        if p.get(field):
            objs = [o for o in objs if o.get(field) == p[field]]
    objs = filter_range(objs, "created", p.get("created"))
    return list_object(emu, objs, p, "/v1/customers")


@bp.delete("/v1/customers/<customer_id>")
@endpoint
def delete_customer(customer_id: str) -> dict[str, Any]:
    """Delete a customer, canceling its subscriptions at once."""
    params("CustomerDeleteParams")
    emu = emulator()
    customer = emu.fetch("customer", customer_id)
    now = emu.customer_now(customer_id)
    for sub in emu.store.all("subscription", lambda s: s["customer"] == customer_id):
        cancel_now(emu, sub, now, "cancellation_requested")
    snapshot = render(emu, customer)
    customer["deleted"] = True
    emu.store.put(customer)
    emit(emu, "customer.deleted", snapshot, created=now)
    return render(emu, customer)


@bp.get("/v1/customers/<customer_id>/payment_methods")
@endpoint
def list_customer_payment_methods(customer_id: str) -> dict[str, Any]:
    """A customer's payment methods."""
    p = params("CustomerListPaymentMethodsParams")
    emu = emulator()
    emu.fetch("customer", customer_id)
    objs = emu.store.all("payment_method", lambda pm: pm["customer"] == customer_id)
    return list_object(emu, objs, p, f"/v1/customers/{customer_id}/payment_methods")


@bp.post("/v1/payment_methods")
@endpoint
def create_payment_method() -> dict[str, Any]:
    """Create a card payment method from test card details or a test token."""
    p = params("PaymentMethodCreateParams")
    emu = emulator()
    if p.get("type", "card") != "card":
        raise invalid("The Stripe emulator supports card payment methods only.", "type")
    if not p.get("card"):
        raise invalid("Missing required param: card.", "card", "parameter_missing")
    pm = card_from_params(p["card"], real_now())
    billing = p.get("billing_details") or {}
    pm["billing_details"].update({k: v for k, v in billing.items() if k != "address"})
    set_fields(pm, p, ())
    emu.store.put(pm)
    return render(emu, pm, p.get("expand") or [])


@bp.get("/v1/payment_methods/<pm_id>")
@endpoint
def retrieve_payment_method(pm_id: str) -> dict[str, Any]:
    """Retrieve a payment method."""
    p = params("PaymentMethodRetrieveParams")
    emu = emulator()
    return render(emu, resolve_payment_method(emu, pm_id, "payment_method", real_now()),
                  p.get("expand") or [])


@bp.get("/v1/payment_methods")
@endpoint
def list_payment_methods() -> dict[str, Any]:
    """List a customer's payment methods."""
    p = params("PaymentMethodListParams")
    emu = emulator()
    objs = emu.store.all("payment_method", lambda pm: pm["customer"] is not None)
    if p.get("customer"):
        emu.fetch("customer", p["customer"], "customer")
        objs = [o for o in objs if o["customer"] == p["customer"]]
    return list_object(emu, objs, p, "/v1/payment_methods")


@bp.post("/v1/payment_methods/<pm_id>/attach")
@endpoint
def attach_payment_method(pm_id: str) -> dict[str, Any]:
    """Attach a card to a customer (declining test cards fail here, as on Stripe)."""
    p = params("PaymentMethodAttachParams")
    emu = emulator()
    if not p.get("customer"):
        raise invalid("Missing required param: customer.", "customer", "parameter_missing")
    customer = emu.fetch("customer", p["customer"], "customer")
    pm = _attach(customer, pm_id, "payment_method", emu.customer_now(customer["id"]))
    return render(emu, pm, p.get("expand") or [])


@bp.post("/v1/payment_methods/<pm_id>/detach")
@endpoint
def detach_payment_method(pm_id: str) -> dict[str, Any]:
    """Detach a card from its customer."""
    p = params("PaymentMethodDetachParams")
    emu = emulator()
    pm = emu.fetch("payment_method", pm_id)
    if not pm["customer"]:
        raise invalid("The payment method you provided is not attached to a customer so "
                      "detachment is impossible.", "payment_method")
    customer = emu.store.get(pm["customer"], "customer")
    if customer and customer["invoice_settings"]["default_payment_method"] == pm_id:
        customer["invoice_settings"]["default_payment_method"] = None
        emu.store.put(customer)
    pm["customer"] = None
    emu.store.put(pm)
    emit(emu, "payment_method.detached", render(emu, pm))
    return render(emu, pm, p.get("expand") or [])
