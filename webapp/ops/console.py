"""The /admin page's view model: the ops report, its three charts and the alerts' stored state."""
from __future__ import annotations

from dataclasses import dataclass

from webapp.billing.plans import PLANS
from webapp.ops import alerts, charts, days, reports


@dataclass
class AlertsPanel:
    """The alerts as last evaluated (stored state)."""

    alerts: list[alerts.AlertView]

    @property
    def firing(self) -> list[alerts.AlertView]:
        """The alerts that fire."""
        return [a for a in self.alerts if a.firing]

    @property
    def never_evaluated(self) -> bool:
        """True until the hourly job or `flask ops alerts` has run once."""
        return all(a.evaluated_at is None for a in self.alerts)


@dataclass
class Dashboard:
    """What /admin shows."""

    report: reports.OpsReport
    panel: AlertsPanel
    charts: list[charts.BarChart]


def alerts_panel() -> AlertsPanel:
    """The alerts' stored state, for the page and for "Check now"."""
    return AlertsPanel(alerts.current_states())


def check_alerts() -> AlertsPanel:
    """Evaluate the alerts now (as the hourly job does: transitions logged once) and return their new state."""
    alerts.evaluate()
    return alerts_panel()


def dashboard() -> Dashboard:
    """Build the admin page: one report, the charts drawn from it, the alerts as last evaluated."""
    report = reports.build_report()
    threshold = alerts.Thresholds.from_config().failed_payments_per_day
    return Dashboard(report, alerts_panel(),
                     [webhook_chart(report), usage_chart(report), payments_chart(report, threshold)])


def _day(d: object) -> str:
    return f"{d:%m-%d}"


def webhook_chart(report: reports.OpsReport) -> charts.BarChart:
    """Webhook events per day, stacked by where they stand: processed, failed, pending."""
    days = report.webhooks
    return charts.bar_chart(
        "webhooks", f"Webhook events, last {report.webhook_days} days",
        "Stacked bars per UTC day: processed, failed and pending webhook events.",
        [_day(d.day) for d in days],
        [charts.Series("processed", "ok", [d.processed for d in days]),
         charts.Series("failed", "bad", [d.failed for d in days]),
         charts.Series("pending", "wait", [d.pending for d in days])], stacked=True)


def usage_chart(report: reports.OpsReport) -> charts.BarChart:
    """Average postings as a share of each paid plan's monthly cap, per month (free posts nothing: left out)."""
    months = sorted({r.year_month for r in report.usage} | set(days.last_months(reports.USAGE_MONTHS,
                                                                                   report.generated_at)))
    paid = [p for p in PLANS.values() if p.tx_cap > 0]
    rows = {(r.year_month, r.plan): r for r in report.usage}
    series = [charts.Series(p.name, f"plan-{p.key}",
                            [round(100.0 * rows[(m, p.key)].avg_posted / p.tx_cap, 1) if (m, p.key) in rows else 0
                             for m in months]) for p in paid]
    return charts.bar_chart("usage", "Usage per plan per month",
                            "Grouped bars per month: average postings per tenant as a percentage of the plan's cap.",
                            months, series, y_max=100.0, unit=" %")


def payments_chart(report: reports.OpsReport, threshold: int) -> charts.BarChart:
    """Failed payments per day, with the alert's threshold drawn across."""
    days = report.failed_payments
    return charts.bar_chart(
        "payments", f"Failed payments, last {report.payment_days} days",
        f"Bars per UTC day: invoice.payment_failed events; the dashed line is the alert threshold ({threshold}).",
        [_day(d.day) for d in days], [charts.Series("failed payments", "bad", [d.count for d in days])],
        threshold=threshold, threshold_label=f"alert above {threshold}")
