"""`flask ops ...`: the operations report, the alerts, and who is an admin — the services /admin uses."""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.errors import DomainError
from webapp.ops import admin, alerts, days, reports

NUMBER = re.compile(r"-?\d[\d,]*(\.\d+)?")  # right-aligned in a table
ops_cli = AppGroup("ops", help="Operations: the monitoring report, the alerts, admin users.")


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """An aligned text table: numbers right-aligned, text left-aligned, '-' for nothing."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(row[i] is None or NUMBER.fullmatch(str(row[i])) for row in rows)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [title, line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells] if cells else ["(none)"]
    return [*out, ""]


def report_lines(r: reports.OpsReport) -> list[str]:
    """The whole report as aligned tables (newest day first, like the runbook's queries)."""
    lines = [f"Operations report, {days.to_the_second(r.generated_at)} (UTC days)", ""]
    lines += table(f"Webhook success per day (last {r.webhook_days} days)",
                   ["day", "total", "processed", "failed", "pending", "rate %"],
                   [[d.day.isoformat(), d.total, d.processed, d.failed, d.pending,
                     f"{d.rate:.2f}" if d.rate is not None else None] for d in reversed(r.webhooks)])
    lines += table("Subscriptions by plan and status (not canceled)", ["plan", "status", "tenants", "entitled"],
                   [[s.plan, s.status, s.tenants, s.entitled] for s in r.subscriptions])
    lines += table(f"Usage by plan (last {reports.USAGE_MONTHS} months; tenants with a cap above 0)",
                   ["month", "plan", "cap", "tenants", "avg posted", "max posted", "at cap"],
                   [[u.year_month, u.plan, u.cap, u.tenants, u.avg_posted, u.max_posted, u.at_cap]
                    for u in sorted(r.usage, key=lambda u: u.year_month, reverse=True)])
    lines += table(f"Failed payments per day (last {r.payment_days} days)", ["day", "failed payments"],
                   [[d.day.isoformat(), d.count] for d in reversed(r.failed_payments)])
    shown = len(r.attention.events)
    lines += table(f"Webhook events failed or unprocessed, oldest first ({shown} of {r.attention.total})",
                   ["event", "type", "received", "attempts", "outcome", "tenant", "last error"],
                   [[e.event_id, e.type, days.to_the_second(e.created_at), e.attempts,
                     e.outcome if e.replayable else f"{e.outcome} (in progress)", e.tenant_id,
                     (e.last_error or "")[:80] or None] for e in r.attention.events])
    lines += table("Recent rollover runs", ["month", "at", "outcome", "trigger", "tenants", "rows", "error"],
                   [[x.year_month, days.to_the_second(x.at), x.outcome, x.trigger, x.tenants, x.rows_created,
                     (x.error or "")[:60] or None] for x in r.rollovers])
    lines += table(f"Audit (last {reports.AUDIT_LIMIT})", ["at", "source", "action", "actor", "tenant", "subject",
                                                           "summary"],
                   [[days.to_the_second(a.created_at), a.source, a.action, a.actor, a.tenant_id, a.subject,
                     a.summary[:100]] for a in r.audit])
    return lines


@ops_cli.command("report")
@click.option("--days", type=int, default=None,
              help="Days of webhook and failed-payment history (default 7 and 14), 1 to 366.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def report_command(days: int | None, as_json: bool) -> None:
    """The runbook's monitoring views: webhooks, subscriptions, usage, failed payments, events, rollovers, audit."""
    try:
        result = reports.build_report(days)
    except DomainError as exc:
        raise click.BadParameter(exc.message, param_hint="--days") from exc
    if as_json:
        click.echo(json.dumps(reports.report_json(result), indent=2))
        return
    for line in report_lines(result):
        click.echo(line)


@ops_cli.command("alerts")
def alerts_command() -> None:
    """Evaluate the three alerts now; print each firing one with its figure and runbook step. Exit 1 if any fires."""
    evaluation = alerts.evaluate()
    for check in evaluation.firing:
        click.echo(f"FIRING {check.name}: {check.figure}")
        click.echo(f"  Runbook: {check.runbook}")
    for check in evaluation.checks:
        if not check.firing:
            click.echo(f"ok     {check.name}: {check.figure}")
    if evaluation.firing:
        click.echo(f"{len(evaluation.firing)} of {len(evaluation.checks)} alerts firing.")
        sys.exit(1)
    click.echo(f"No alert firing ({len(evaluation.checks)} checked).")


def _set_admin(email: str, is_admin: bool, command: str) -> None:
    try:
        change = admin.set_admin(email, is_admin, actor=admin.command_actor(command))
    except DomainError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(2)
    if change.changed:
        click.echo(f"{change.email} is now an admin." if is_admin else f"{change.email} is no longer an admin.")
    else:
        click.echo(f"{change.email} is {'already' if is_admin else 'not'} an admin: nothing changed.")


@ops_cli.command("grant-admin")
@click.argument("email")
def grant_admin_command(email: str) -> None:
    """Make the user with this email an admin (audited); exit 2 for an unknown email."""
    _set_admin(email, True, "flask ops grant-admin")


@ops_cli.command("revoke-admin")
@click.argument("email")
def revoke_admin_command(email: str) -> None:
    """Take the admin flag from the user with this email (audited); exit 2 for an unknown email."""
    _set_admin(email, False, "flask ops revoke-admin")


def init_app(app: Flask) -> None:
    """Register the `flask ops` command group."""
    app.cli.add_command(ops_cli)
