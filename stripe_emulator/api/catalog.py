"""/v1/products and /v1/prices."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..errors import StripeError, invalid
from ..listing import filter_range, list_object
from ..objects.catalog import new_price, new_product
from ..objects.common import set_fields
from ..render import render
from ..timeutil import real_now
from .base import emulator, endpoint, params

bp = Blueprint("catalog", __name__)


@bp.post("/v1/products")
@endpoint
def create_product() -> dict[str, Any]:
    """Create a product (optionally with its default price)."""
    p = params("ProductCreateParams")
    emu = emulator()
    product = new_product(p)
    if emu.store.get(product["id"]):
        raise invalid(f"Product already exists: {product['id']}", "id", "resource_already_exists")
    emu.store.put(product)
    if p.get("default_price_data"):
        price = new_price(p["default_price_data"], product["id"])
        emu.store.put(price)
        product["default_price"] = price["id"]
        emu.store.put(product)
    return render(emu, product, p.get("expand") or [])


@bp.get("/v1/products/<product_id>")
@endpoint
def retrieve_product(product_id: str) -> dict[str, Any]:
    """Retrieve a product."""
    p = params("ProductRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("product", product_id, allow_deleted=True), p.get("expand") or [])


@bp.post("/v1/products/<product_id>")
@endpoint
def update_product(product_id: str) -> dict[str, Any]:
    """Update a product's name, description, active flag, metadata or default price."""
    p = params("ProductUpdateParams")
    emu = emulator()
    product = emu.fetch("product", product_id)
    if p.get("default_price"):
        emu.fetch("price", p["default_price"], "default_price")
    set_fields(product, p, ("name", "description", "active", "default_price", "images",
                            "statement_descriptor", "tax_code", "unit_label", "url", "shippable"))
    product["updated"] = real_now()
    emu.store.put(product)
    return render(emu, product, p.get("expand") or [])


@bp.get("/v1/products")
@endpoint
def list_products() -> dict[str, Any]:
    """List products, newest first."""
    p = params("ProductListParams")
    emu = emulator()
    objs = emu.store.all("product", lambda o: not o.get("deleted"))
    if "active" in p:
        objs = [o for o in objs if o["active"] == p["active"]]
    if p.get("ids"):
        objs = [o for o in objs if o["id"] in p["ids"]]
    objs = filter_range(objs, "created", p.get("created"))
    return list_object(emu, objs, p, "/v1/products")


@bp.delete("/v1/products/<product_id>")
@endpoint
def delete_product(product_id: str) -> dict[str, Any]:
    """Delete a product that has no prices."""
    params("ProductDeleteParams")
    emu = emulator()
    product = emu.fetch("product", product_id)
    if emu.store.all("price", lambda o: o["product"] == product_id):
        raise StripeError("This product cannot be deleted because it has one or more "
                          "user-created prices.", param="id")
    product["deleted"] = True
    emu.store.put(product)
    return render(emu, product)


@bp.post("/v1/prices")
@endpoint
def create_price() -> dict[str, Any]:
    """Create a price for a product (or for a product created from product_data)."""
    p = params("PriceCreateParams")
    emu = emulator()
    if p.get("product"):
        product_id = emu.fetch("product", p["product"], "product")["id"]
    elif p.get("product_data"):
        product = new_product(p["product_data"])
        emu.store.put(product)
        product_id = product["id"]
    else:
        raise invalid("Missing required param: product.", "product", "parameter_missing")
    price = new_price(p, product_id)
    _claim_lookup_key(price, p.get("transfer_lookup_key", False))
    emu.store.put(price)
    return render(emu, price, p.get("expand") or [])


def _claim_lookup_key(price: dict[str, Any], transfer: bool) -> None:
    key = price.get("lookup_key")
    if not key:
        return
    emu = emulator()
    holders = emu.store.all("price", lambda o: o.get("lookup_key") == key and o["id"] != price["id"])
    if holders and not transfer:
        raise invalid(f"A price (`{holders[0]['id']}`) already uses that lookup key.",
                      "lookup_key")
    for holder in holders:
        holder["lookup_key"] = None
        emu.store.put(holder)


@bp.get("/v1/prices/<price_id>")
@endpoint
def retrieve_price(price_id: str) -> dict[str, Any]:
    """Retrieve a price."""
    p = params("PriceRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("price", price_id), p.get("expand") or [])


@bp.post("/v1/prices/<price_id>")
@endpoint
def update_price(price_id: str) -> dict[str, Any]:
    """Update a price's active flag, nickname, metadata or lookup_key."""
    p = params("PriceUpdateParams")
    emu = emulator()
    price = emu.fetch("price", price_id)
    set_fields(price, p, ("active", "nickname", "tax_behavior"))
    if "lookup_key" in p:
        price["lookup_key"] = p["lookup_key"]
        _claim_lookup_key(price, p.get("transfer_lookup_key", False))
    emu.store.put(price)
    return render(emu, price, p.get("expand") or [])


@bp.get("/v1/prices")
@endpoint
def list_prices() -> dict[str, Any]:
    """List prices, filtered by active, product, type, currency, lookup_keys, recurring."""
    p = params("PriceListParams")
    emu = emulator()
    objs = emu.store.all("price")
    for field in ("active", "product", "type", "currency"):
        if field in p and p[field] is not None:
            objs = [o for o in objs if o[field] == p[field]]
    if p.get("lookup_keys"):
        objs = [o for o in objs if o.get("lookup_key") in p["lookup_keys"]]
    recurring = p.get("recurring") or {}
    for field in ("interval", "usage_type"):
        if recurring.get(field):
            objs = [o for o in objs if (o["recurring"] or {}).get(field) == recurring[field]]
    objs = filter_range(objs, "created", p.get("created"))
    return list_object(emu, objs, p, "/v1/prices")
