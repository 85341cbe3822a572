"""`flask demo seed [--scenario …]`: prepare the runbook's scenarios and print the commands that play them."""
from __future__ import annotations

import shlex

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT
from webapp.config import local_stack
from webapp.errors import DomainError
from webapp.ops import demo

demo_cli = AppGroup("demo", help="Demo data for the operations runbook's scenarios.")
DEFAULT_BASE_URL = "http://localhost:8000"
IDS_PER_LINE = 4
CURL_STATUS = "-s -w ' HTTP %{http_code}\\n'"  # each answer on its own line, ending with its status code


def _auth(base: str, path: str) -> str:
    return f'curl -s {base}{path} \\\n  -H "Authorization: Bearer $TOKEN"; echo'


def _head(t: demo.SeededTenant, base: str, title: str, what: str) -> list[str]:
    return [f"== {t.scenario}: {title} ==", what,
            f"Tenant {t.tenant_id} ({t.plan}, {t.subscription_status}). Log in at {base}/login as "
            f"{t.email} / {t.password}", "", f"export TOKEN={t.token}"]


def new_subscription_lines(t: demo.SeededTenant, base: str) -> list[str]:
    """Scenario 1's commands for this tenant, the runbook's with the real price id."""
    return _head(t, base, "Scenario 1, New Subscription", "A new tenant on the free plan.") + [
        "# 2. billing status (free, inactive)", _auth(base, "/api/billing/status"),
        "# 3. a Checkout Session for the starter plan",
        f"curl -s -X POST {base}/api/billing/checkout \\\n  -H \"Authorization: Bearer $TOKEN\" \\\n"
        f"  -H \"Content-Type: application/json\" \\\n  -d '{{\"price_id\": \"{t.price_id}\"}}'; echo",
        "# 4. open its \"url\" and pay with 4242 4242 4242 4242, any future expiry (e.g. 12/34), any CVC",
        "# 5./6. the webhook activates the plan: billing status again (starter, active)",
        _auth(base, "/api/billing/status")]


def monthly_cap_lines(t: demo.SeededTenant, base: str) -> list[str]:
    """Scenario 2's loop over the tenant's real proposed entries: 300 × 200, then 402 MONTHLY_CAP_EXCEEDED."""
    rows = [" ".join(t.ids[i:i + IDS_PER_LINE]) for i in range(0, len(t.ids), IDS_PER_LINE)]
    return _head(t, base, "Scenario 2, Monthly Cap Enforcement",
                 f"{len(t.ids)} proposed entries; commit them one by one: commit number {len(t.ids)} answers 402 "
                 "MONTHLY_CAP_EXCEEDED.") + [
        "for je in " + " \\\n    ".join(rows) + "; do",
        f"  curl {CURL_STATUS} -X POST {base}/api/post/commit \\",
        '    -H "Authorization: Bearer $TOKEN" \\',
        "    -d '{\"je_ids\": [\"'$je'\"]}'",
        "done"]


def free_cap_lines(t: demo.SeededTenant, base: str) -> list[str]:
    """Scenario 3's loop as the runbook prints it (txn_1 … txn_51 exist): 50 × 200, then 429 FREE_CAP_EXCEEDED."""
    return _head(t, base, "Scenario 3, Free Tier Daily Cap",
                 f"{len(t.ids)} imported transactions txn_1 … txn_{len(t.ids)}; the free tier analyses "
                 f"{FREE_DAILY_ANALYZE_LIMIT} a UTC day, so proposal {len(t.ids)} answers 429 FREE_CAP_EXCEEDED.") + [
        f"for i in {{1..{len(t.ids)}}}; do",
        f"  curl {CURL_STATUS} -X POST {base}/api/post/propose \\",
        '    -H "Authorization: Bearer $TOKEN" \\',
        "    -d '{\"txn_ids\": [\"txn_'$i'\"]}'",
        "done"]


def failed_payment_lines(t: demo.SeededTenant, base: str) -> list[str]:
    """The failed-payment commands: status, the one command that fails the payment, status again."""
    days = (t.trial_days or 0) + 1
    return _head(t, base, "Handling Failed Payments",
                 f"A starter subscriber in a {t.trial_days}-day trial on test clock {t.test_clock}, paying with "
                 "4000 0000 0000 0341 (attaches, every charge fails).") + [
        "# billing status: starter, trialing", _auth(base, "/api/billing/status"),
        f"# the failed payment: move the clock {days} days on; the trial ends, the card is charged and declined "
        "(invoice.payment_failed)",
        f"python -m stripe_emulator advance {shlex.quote(str(t.test_clock))} --days {days}",
        "# billing status: subscription_status past_due, on the free tier until the card works",
        _auth(base, "/api/billing/status"),
        f"# recover: the customer opens {base}/billing → Update card, or by hand:",
        f"python scripts/admin_reactivate_subscription.py {t.tenant_id}"]


PRINTERS = {"new-subscription": new_subscription_lines, "monthly-cap": monthly_cap_lines,
            "free-cap": free_cap_lines, "failed-payment": failed_payment_lines}


@demo_cli.command("seed")
@click.option("--scenario", type=click.Choice([*demo.SCENARIOS, "all"]), default="all", show_default=True,
              help="Which runbook scenario to prepare.")
@click.option("--base-url", default=None,
              help="The app's URL in the printed commands (default: the stack `make run` serves, else "
                   f"{DEFAULT_BASE_URL}).")
def seed_command(scenario: str, base_url: str | None) -> None:
    """Make fresh tenants for the runbook's scenarios and print their tokens and commands."""
    base = (base_url or str(local_stack().get("APP_URL") or DEFAULT_BASE_URL)).rstrip("/")
    chosen = list(demo.SCENARIOS) if scenario == "all" else [scenario]
    try:
        seeded = demo.seed(chosen)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for tenant in seeded:
        click.echo("\n".join(PRINTERS[tenant.scenario](tenant, base)) + "\n")


def init_app(app: Flask) -> None:
    """Register the `flask demo` command group."""
    app.cli.add_command(demo_cli)
