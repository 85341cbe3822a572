"""`flask usage rollover [--month YYYY-MM]`: the same service the scheduler and the script run."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.errors import DomainError
from webapp.metering import rollover

usage_cli = AppGroup("usage", help="Usage counters: the monthly rollover, and resets of a stuck counter.")


@usage_cli.command("rollover")
@click.option("--month", default=None, help="YYYY-MM to roll over (default: the current UTC month).")
@click.option("--verbose", is_flag=True, help=f"A line per tenant even past {rollover.LISTED_TENANTS} tenants.")
def rollover_command(month: str | None, verbose: bool) -> None:
    """Start the month at zero for every tenant (once per month; safe to run again)."""
    try:
        result = rollover.roll_usage_month(month, trigger="flask usage rollover")
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for line in rollover.report(result, verbose=verbose):
        click.echo(line)


def init_app(app: Flask) -> None:
    """Register the `flask usage` command group."""
    app.cli.add_command(usage_cli)
