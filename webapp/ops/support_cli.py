"""Support commands on the `flask billing` and `flask usage` groups: thin wrappers over webapp/ops/support.py.

Every command refuses bad input (unknown tenant, plan, status, month; a missing reason) with one line
on stderr and exit 2, having changed nothing. Changes need --reason; --actor names who (default: the
OS user); --dry-run shows the change and saves nothing; --json prints the stable shape.
"""
from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import click
from flask import Flask

from webapp.billing import operations
from webapp.billing.cli import billing_cli
from webapp.errors import DomainError
from webapp.metering.cli import usage_cli
from webapp.ops import report, support

T = TypeVar("T")

REACTIVATE_REASON = "manual reactivation (runbook: Handling Failed Payments, option 2)"

actor_option = click.option("--actor", default=None, help="Who is doing this (default: the OS user).")
reason_option = click.option("--reason", default=None, help="Why (a ticket, what the customer asked). Required.")
dry_run_option = click.option("--dry-run", is_flag=True, help="Show what would change; save nothing.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (a stable shape) instead of text.")


def refuse(exc: DomainError) -> NoReturn:
    """One line on stderr, exit 2: the command changed nothing."""
    click.echo(f"✗ {exc.message} Nothing changed.", err=True)
    sys.exit(2)


def attempt(fn: Callable[[], T]) -> T:
    """Run a service call; a domain error is a refusal."""
    try:
        return fn()
    except DomainError as exc:
        refuse(exc)


def who(actor: str | None) -> str:
    """--actor, else the OS user running the command."""
    return (actor or "").strip() or operations.operator()


def emit(payload: Any, as_json: bool, lines: Callable[[Any], list[str]]) -> None:
    """Print the result as JSON or as the human lines."""
    if as_json:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    for line in lines(payload):
        click.echo(line)


def emit_stream(items: Iterator[T], as_json: bool, to_json: Callable[[T], Any],
                lines: Callable[[Iterator[T]], Iterator[str]]) -> None:
    """Like emit, but printing each item as it comes: the JSON array (same text as emit's) or the lines."""
    if not as_json:
        for line in lines(items):
            click.echo(line)
        return
    first = True
    for item in items:
        click.echo(("[\n" if first else ",\n") + textwrap.indent(json.dumps(to_json(item), indent=2,
                                                                            ensure_ascii=False), "  "), nl=False)
        first = False
    click.echo("[]" if first else "\n]")


@click.command("show")
@click.argument("tenant")
@click.option("--offline", is_flag=True, help="Do not ask Stripe (no API call).")
@json_option
def show_command(tenant: str, offline: bool, as_json: bool) -> None:
    """A tenant's entitlement, override, Stripe state, usage, companies, last events and audit rows."""
    emit(attempt(lambda: support.show(tenant, offline=offline)), as_json, report.show_lines)


@click.command("events")
@click.option("--tenant", default=None, help="Tenant id or a user's email.")
@click.option("--type", "type_", default=None, help="Event type, e.g. invoice.payment_failed (invoice.* for a prefix).")
@click.option("--failed", is_flag=True, help="Only events whose processing failed.")
@click.option("--pending", is_flag=True, help="Only events not processed yet (and not failed).")
@click.option("--since", default=None, help="7d, 12h, 30m, or a date like 2025-11-01.")
@click.option("--limit", default=50, show_default=True, type=int)
@json_option
def events_command(tenant: str | None, type_: str | None, failed: bool, pending: bool, since: str | None,
                   limit: int, as_json: bool) -> None:
    """Stored Stripe events, newest first, with outcome, attempts and last error."""
    result = attempt(lambda: support.list_events(tenant, type_, failed, pending, since, limit))
    emit(result, as_json, report.events_lines)


@click.command("set-entitlement")
@click.argument("tenant")
@click.option("--plan", default=None, help="free, starter, pro or firm (limits come from the plan table).")
@click.option("--status", default="active", show_default=True, help="The subscription status the override gives.")
@click.option("--until", default=None, help="End: a date (00:00 UTC) or date-time, e.g. 2025-12-31.")
@click.option("--days", default=None, type=int, help="End: this many days from now.")
@reason_option
@actor_option
@dry_run_option
@json_option
def set_entitlement_command(tenant: str, plan: str | None, status: str, until: str | None, days: int | None,
                            reason: str | None, actor: str | None, dry_run: bool, as_json: bool) -> None:
    """A manual override: the tenant gets PLAN whatever Stripe says, until it ends."""
    result = attempt(lambda: support.set_entitlement(tenant, plan or "", status, until, days, actor=who(actor),
                                                     reason=reason, dry_run=dry_run))
    emit(result, as_json, report.override_lines)


@click.command("clear-override")
@click.argument("tenant")
@reason_option
@actor_option
@dry_run_option
@json_option
def clear_override_command(tenant: str, reason: str | None, actor: str | None, dry_run: bool,
                           as_json: bool) -> None:
    """End the tenant's override now: Stripe's state applies again."""
    result = attempt(lambda: support.clear_override(tenant, actor=who(actor), reason=reason, dry_run=dry_run))
    emit(result, as_json, report.override_lines)


@click.command("reactivate")
@click.argument("tenant")
@click.option("--days", default=None, type=int, help="Length (default 7 days, or until the next paid invoice).")
@click.option("--reason", default=REACTIVATE_REASON, show_default=True)
@actor_option
@dry_run_option
@json_option
def reactivate_command(tenant: str, days: int | None, reason: str, actor: str | None, dry_run: bool,
                       as_json: bool) -> None:
    """Same as scripts/admin_reactivate_subscription.py: an override that ends on the next paid invoice."""
    result = attempt(lambda: support.reactivate(tenant, actor=who(actor), reason=reason, days=days,
                                                dry_run=dry_run))
    emit(result, as_json, lambda r: reactivation_lines(r))


def reactivation_lines(result: dict[str, Any]) -> list[str]:
    """The runbook's line, then the override it became."""
    tenant = result["tenant_id"]
    head = f"Would reactivate subscription for {tenant}" if result["dry_run"] else \
        f"✓ Reactivated subscription for {tenant}"
    return [head] + report.override_lines(result)[1:]


@click.command("replay")
@click.argument("event_id", required=False)
@click.option("--failed", is_flag=True, help="Every event whose processing failed or stopped mid-way.")
@dry_run_option
@click.option("--reason", default=None, help="Why (kept on the audit rows of what the replay changes).")
@actor_option
@json_option
def replay_command(event_id: str | None, failed: bool, dry_run: bool, reason: str | None, actor: str | None,
                   as_json: bool) -> None:
    """Re-apply stored events; prints each with its outcome; exit 1 while any still fails."""
    results = attempt(lambda: operations.replay(event_id=event_id, failed=failed, dry_run=dry_run,
                                                actor=f"{who(actor)} (flask billing replay)", reason=reason))
    emit([r.as_json() for r in results], as_json, lambda _: operations.describe_replay(results, dry_run))
    if any(r.failed for r in results):
        sys.exit(1)


@click.command("reconcile")
@click.argument("tenant", required=False)
@dry_run_option
@click.option("--reason", default=None, help="Why (kept on the audit rows of what it fixes).")
@actor_option
@json_option
def reconcile_command(tenant: str | None, dry_run: bool, reason: str | None, actor: str | None,
                      as_json: bool) -> None:
    """Re-read subscriptions from Stripe (every tenant's, or TENANT's), fix drift and print it."""
    def run() -> None:  # the reports stream: each is printed as its tenant is done
        reports = operations.reconcile(tenant_id=support.find_tenant(tenant).id if tenant else None,
                                       dry_run=dry_run, actor=f"{who(actor)} (flask billing reconcile)", reason=reason)
        emit_stream(reports, as_json, lambda r: r.as_json(), lambda rs: operations.describe(rs, dry_run))

    attempt(run)


@click.command("reset")
@click.argument("tenant")
@click.option("--month", default=None, help="YYYY-MM (default: the current UTC month).")
@click.option("--posted", is_flag=True, help="Zero the month's posted count.")
@click.option("--analyzed", is_flag=True, help="Zero the month's analysed count.")
@click.option("--today", is_flag=True, help="Zero today's free-tier analyses (the daily cap).")
@reason_option
@actor_option
@dry_run_option
@json_option
def usage_reset_command(tenant: str, month: str | None, posted: bool, analyzed: bool, today: bool,
                        reason: str | None, actor: str | None, dry_run: bool, as_json: bool) -> None:
    """Zero a stuck counter (default: the month's posted and analysed), audited."""
    result = attempt(lambda: support.reset_usage(tenant, month, posted, analyzed, today, actor=who(actor),
                                                 reason=reason, dry_run=dry_run))
    emit(result, as_json, report.usage_reset_lines)


def init_app(app: Flask) -> None:
    """Add the support commands to the `flask billing` and `flask usage` groups."""
    for command in (show_command, events_command, set_entitlement_command, clear_override_command,
                    reactivate_command, replay_command, reconcile_command):
        billing_cli.add_command(command)
    usage_cli.add_command(usage_reset_command)
