"""`flask billing bootstrap`; the support commands (show, events, set-entitlement, clear-override, reactivate,
replay, reconcile) are added to this group by webapp/ops/cli.py. The same services the app uses."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from webapp.billing import bootstrap as bootstrap_service
from webapp.billing import stripe_gateway
from webapp.errors import DomainError

billing_cli = AppGroup("billing", help="Stripe catalog, and the support tools: show, events, overrides, replay, reconcile.")


def stdin_is_terminal() -> bool:
    """True when a person can answer a prompt."""
    return sys.stdin.isatty()


def confirm_live_key(mode: str) -> None:
    """A live key needs 'yes' typed at a terminal; anything else aborts before anything is created."""
    if mode != "live":
        return
    if not stdin_is_terminal():
        raise click.ClickException("Refusing to bootstrap with a LIVE key without a terminal to confirm at.")
    answer = input("This is a LIVE Stripe key: real products that can charge real money. Type 'yes' to go on: ")
    if answer.strip() != "yes":
        raise click.ClickException("Aborted: nothing was created.")


def run_bootstrap() -> None:
    """Shared by `flask billing bootstrap` and scripts/stripe_bootstrap.py."""
    gw = stripe_gateway.gateway()
    if not gw.configured:
        raise click.ClickException("STRIPE_SECRET_KEY is not set: export your Stripe secret key first.")
    confirm_live_key(gw.mode)
    try:
        result = bootstrap_service.bootstrap()
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    path = Path(current_app.config.get("STRIPE_PRODUCTS_FILE") or "config/stripe_products.json")
    bootstrap_service.save(result, gw.mode, path)
    click.echo(json.dumps(result, indent=2))
    click.echo(f"\n# Mode: {gw.mode}. Saved to {path}. Add to .env:")
    for line in bootstrap_service.env_lines(result):
        click.echo(line)


@billing_cli.command("bootstrap")
def bootstrap_command() -> None:
    """Create (or find) the products and prices; prints the ids and the .env lines."""
    run_bootstrap()


@billing_cli.command("send-emails")
def send_emails_command() -> None:
    """Send billing emails still waiting (pending, failed fewer than 5 times, or stuck mid-send)."""
    from webapp.billing import emails

    if emails.settings() is None:
        raise click.ClickException("MAIL_URL is not set: nothing can be sent.")
    click.echo(f"{emails.deliver(retry=True)} email(s) sent")


def init_app(app: Flask) -> None:
    """Register the `flask billing` command group."""
    app.cli.add_command(billing_cli)
