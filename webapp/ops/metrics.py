"""Prometheus metrics for /metrics: counters kept by prometheus-client, gauges read from the database per scrape.

Counters and the latency histogram live in each process. Under gunicorn, `gunicorn.conf.py` sets
PROMETHEUS_MULTIPROC_DIR before any worker imports prometheus-client, so each worker writes its
values to files there and a scrape (served by whichever worker) adds every worker's up: the
multiprocess mode. Without it (`flask run`, one process) the app's own registry is read.

Gauges (subscriptions, last rollover, alerts) are read from the database when scraped, so they are
the same whichever worker answers and need no multiprocess bookkeeping.
"""
from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, has_app_context, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from webapp import logs, signals
from webapp.errors import NotFound, Unauthorized
from webapp.extensions import db
from webapp.models import AlertState, RolloverRun
from webapp.ops import alerts, days, reports

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SCRAPE_ENDPOINT = "ops.metrics_endpoint"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """The app's counters; `registry` holds them for a single-process scrape."""

    registry: CollectorRegistry
    webhooks: Counter
    gate: Counter
    requests: Counter
    latency: Histogram
    # (metric, label values) → its child: prometheus-client's labels() validates and locks on every call.
    # As many entries as series (routes × methods × statuses, event types, gate codes): a fixed, small set.
    _children: dict[tuple[object, ...], Any] = field(default_factory=dict)

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """metric.labels(*labels), looked up once per series."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


def init_app(app: Flask) -> None:
    """Create the app's counters and count every request (but the scrape itself) by route and status."""
    registry = CollectorRegistry()
    app.extensions["metrics"] = Metrics(
        registry,
        Counter("aibk_webhook_deliveries", "Stripe webhook deliveries by event type and outcome",
                ["type", "outcome"], registry=registry),
        Counter("aibk_gate_decisions", "Entitlement gate decisions by action and code (ALLOWED or the error code)",
                ["action", "code"], registry=registry),
        Counter("aibk_http_requests", "HTTP requests by method, route and status", ["method", "route", "status"],
                registry=registry),
        Histogram("aibk_http_request_duration_seconds", "HTTP request latency by method and route",
                  ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry))
    app.after_request(_count_request)  # timed by the request log's timer (logs.request_seconds)
    signals.gate_decided.connect(count_gate)  # receivers are kept once, however many apps connect them
    signals.webhook_delivered.connect(count_webhook)


def _metrics() -> Metrics | None:
    return current_app.extensions.get("metrics") if has_app_context() else None


def _count_request(response: Response) -> Response:
    metrics: Metrics | None = current_app.extensions.get("metrics")  # a request hook: the app context is there
    url_rule = request.url_rule  # (request.endpoint is its endpoint)
    if metrics is None or (url_rule is not None and url_rule.endpoint == SCRAPE_ENDPOINT):
        return response
    # The route's pattern, never the raw path: ids and unknown URLs must not make new series.
    route = url_rule.rule if url_rule is not None else "unmatched"
    method = request.method
    metrics.child(metrics.requests, method, route, str(response.status_code)).inc()
    seconds = logs.request_seconds()
    if seconds is not None:
        metrics.child(metrics.latency, method, route).observe(seconds)
    return response


def count_webhook(sender: object, event_type: str, outcome: str) -> None:
    """One webhook delivery and what became of it (signals.webhook_delivered)."""
    metrics = _metrics()
    if metrics is not None:
        metrics.child(metrics.webhooks, event_type, outcome).inc()


def count_gate(sender: object, action: str, code: str) -> None:
    """One gate decision: ALLOWED, or the paywall code it answered (signals.gate_decided)."""
    metrics = _metrics()
    if metrics is not None:
        metrics.child(metrics.gate, action, code).inc()


class DatabaseGauges(Collector):
    """Gauges read from the database at scrape time: the same answer from every worker."""

    def collect(self) -> Iterator[Metric]:
        subs = GaugeMetricFamily("aibk_subscriptions", "Live subscriptions by plan and status (not canceled)",
                                 labels=["plan", "status"])
        for row in reports.subscriptions():
            subs.add_metric([row.plan, row.status], row.tenants)
        yield subs
        last = db.session.scalar(select(func.max(RolloverRun.finished_at)))
        rollover = GaugeMetricFamily("aibk_rollover_last_success_timestamp_seconds",
                                     "Unix time of the last completed monthly usage rollover (0: never)")
        rollover.add_metric([], days.as_utc(last).timestamp() if last else 0.0)
        yield rollover
        firing = dict(db.session.execute(select(AlertState.name, AlertState.firing)).tuples().all())
        gauge = GaugeMetricFamily("aibk_alert_firing", "1 while the alert fires (state of its last evaluation)",
                                  labels=["alert"])
        for name in alerts.TITLES:
            gauge.add_metric([name], 1.0 if firing.get(name) else 0.0)
        yield gauge
        backlog = GaugeMetricFamily("aibk_webhook_events_unprocessed", "Stored webhook events not processed yet")
        backlog.add_metric([], reports.unprocessed_count())
        yield backlog


def check_scrape_token(authorization: str) -> None:
    """Let a scrape through only with `Authorization: Bearer <METRICS_TOKEN>`; without a token set, /metrics is 404."""
    expected = current_app.config.get("METRICS_TOKEN")
    if not expected:
        raise NotFound("There is nothing at this address.")
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Unauthorized("A valid Bearer token is required: send 'Authorization: Bearer <METRICS_TOKEN>'.")


def render() -> bytes:
    """The scrape body: every worker's counters (multiprocess) or this process's, then the database gauges."""
    multiproc_dir = os.environ.get(MULTIPROC_ENV)
    if multiproc_dir:
        counters = CollectorRegistry()
        MultiProcessCollector(counters, path=multiproc_dir)
    else:
        metrics = _metrics()
        counters = metrics.registry if metrics is not None else CollectorRegistry()
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(DatabaseGauges())
    return generate_latest(counters) + generate_latest(gauges)
