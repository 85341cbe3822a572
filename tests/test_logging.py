"""Logs: one JSON line per request, and no secret ever written."""
from __future__ import annotations

import json
import time

import pytest

from tests.billing.helpers import post_event

WEBHOOK_SECRET = "whsec_logging"


@pytest.fixture
def app_overrides(tmp_path):
    return {"LOG_FILE": str(tmp_path / "app.log"), "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}


def read_log(app) -> list[dict]:
    with open(app.config["LOG_FILE"], encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_each_request_logs_method_path_status_and_duration(app, client):
    client.get("/healthz")
    lines = [r for r in read_log(app) if r["event"] == "request"]
    assert lines[-1]["method"] == "GET" and lines[-1]["path"] == "/healthz" and lines[-1]["status"] == 200
    assert isinstance(lines[-1]["duration_ms"], float)


def test_passwords_and_tokens_never_reach_the_log(app, client):
    resp = client.post("/api/auth/signup", json={"email": "log@example.com", "password": "supersecret99",
                                                 "full_name": "Log"})
    token = resp.get_json()["token"]
    client.get("/api/companies", headers={"Authorization": f"Bearer {token}"})
    client.post("/api/auth/login", json={"email": "log@example.com", "password": "wrongsecret99"})
    text = open(app.config["LOG_FILE"], encoding="utf-8").read()
    assert "supersecret99" not in text and "wrongsecret99" not in text and token not in text
    assert "auth.signup" in text and "auth.login_failed" in text


def test_a_record_is_encoded_once_and_the_same_line_written_to_stderr_and_the_file(monkeypatch, app, client):
    import io
    import logging

    import webapp.logs

    encoded: list[str] = []
    real_to_json = webapp.logs._to_json

    def counting_to_json(line):
        encoded.append(line["event"])
        return real_to_json(line)

    monkeypatch.setattr(webapp.logs, "_to_json", counting_to_json)
    [ours] = [h for h in logging.getLogger("webapp").handlers if getattr(h, webapp.logs._OURS, False)]
    stderr = io.StringIO()
    real_stderr = ours.setStream(stderr)
    try:
        client.get("/healthz")
    finally:
        ours.setStream(real_stderr)
    assert encoded.count("request") == 1
    to_stderr = [line for line in stderr.getvalue().splitlines() if '"event": "request"' in line]
    with open(app.config["LOG_FILE"], encoding="utf-8") as fh:
        to_file = [line.rstrip("\n") for line in fh if '"event": "request"' in line]
    assert len(to_stderr) == 1 and to_stderr[-1] == to_file[-1] and json.loads(to_file[-1])["path"] == "/healthz"


def test_the_handler_rotates_the_file_as_the_file_handler_would_and_stderr_keeps_every_line(tmp_path):
    import io
    import logging

    from webapp.logs import JsonLines, LogFile

    record = logging.LogRecord("webapp.test", logging.INFO, __file__, 1, "x" * 40, None, None)
    stderr = io.StringIO()
    handler = JsonLines(LogFile(str(tmp_path / "app.log"), maxBytes=100, backupCount=1, encoding="utf-8"), stderr)
    try:
        for _ in range(3):  # 41 characters a line: the third would pass 100
            handler.handle(record)
    finally:
        handler.close()
    assert (tmp_path / "app.log.1").read_text(encoding="utf-8").count("\n") == 2
    assert (tmp_path / "app.log").read_text(encoding="utf-8") == "x" * 40 + "\n"
    assert stderr.getvalue() == ("x" * 40 + "\n") * 3


def test_a_line_stderr_refuses_still_reaches_the_file_and_the_failure_is_reported(tmp_path, monkeypatch):
    import logging

    from webapp.logs import JsonLines, LogFile

    class Closed:
        def write(self, text):
            raise ValueError("I/O operation on closed file")

        def flush(self):
            pass

    reported: list[logging.LogRecord] = []
    handler = JsonLines(LogFile(str(tmp_path / "app.log"), encoding="utf-8"), Closed())
    monkeypatch.setattr(handler, "handleError", reported.append)
    record = logging.LogRecord("webapp.test", logging.INFO, __file__, 1, "kept", None, None)
    try:
        handler.handle(record)
    finally:
        handler.close()
    assert (tmp_path / "app.log").read_text(encoding="utf-8") == "kept\n" and reported == [record]


def test_a_field_json_cannot_encode_is_written_as_its_text(app):
    import logging
    from datetime import UTC, datetime
    from decimal import Decimal

    logging.getLogger("webapp.test").info("odd.fields", extra={"at": datetime(2026, 1, 2, tzinfo=UTC),
                                                               "amount": Decimal("1.50"), "ids": ["a"]})
    line = [r for r in read_log(app) if r["event"] == "odd.fields"][-1]
    assert line["at"] == "2026-01-02 00:00:00+00:00" and line["amount"] == "1.50" and line["ids"] == ["a"]


def test_the_log_file_rotates_once_it_would_pass_its_size_and_never_rotates_what_is_not_a_regular_file(tmp_path):
    import logging

    from webapp.logs import LogFile

    record = logging.LogRecord("webapp.test", logging.INFO, __file__, 1, "x" * 40, None, None)
    log_file = LogFile(str(tmp_path / "app.log"), maxBytes=100, backupCount=1, encoding="utf-8")
    try:
        log_file.emit(record)
        log_file.emit(record)  # 82 bytes written: a third line would pass 100
        assert not (tmp_path / "app.log.1").exists()
        log_file.emit(record)
        assert (tmp_path / "app.log.1").read_text(encoding="utf-8").count("\n") == 2
        assert (tmp_path / "app.log").read_text(encoding="utf-8").count("\n") == 1
    finally:
        log_file.close()
    devnull = LogFile("/dev/null", maxBytes=1, backupCount=1)
    try:
        assert not devnull.shouldRollover(record)
    finally:
        devnull.close()


def webhook_lines(app, event_id: str) -> list[dict]:
    """The log file's webhook lines about one event, in order."""
    return [r for r in read_log(app) if r["event"].startswith("webhook.") and r.get("event_id") == event_id]


def event(event_id: str, type_: str, obj: dict) -> dict:
    return {"id": event_id, "object": "event", "type": type_, "created": int(time.time()), "data": {"object": obj}}


def test_an_ignored_event_logs_one_webhook_line_with_its_id_type_deliveries_and_outcome(app, client):
    ignored = event("evt_log_ignored", "customer.created", {"id": "cus_log", "object": "customer"})
    assert post_event(client, ignored, secret=WEBHOOK_SECRET).get_json()["outcome"] == "ignored"
    [line] = webhook_lines(app, "evt_log_ignored")
    assert line["event"] == "webhook.received" and line["level"] == "INFO" and line["source"] == "webhook"
    assert (line["type"], line["deliveries"], line["outcome"]) == ("customer.created", 1, "ignored")
    assert line["tenant_id"] is None and line["changed"] == []

    assert post_event(client, ignored, secret=WEBHOOK_SECRET).get_json()["outcome"] == "duplicate"
    again = webhook_lines(app, "evt_log_ignored")[1:]
    assert [(r["event"], r.get("deliveries")) for r in again] == [("webhook.received", 2), ("webhook.duplicate", None)]
    assert "outcome" not in again[0]


def test_a_handled_event_logs_its_receipt_then_what_processing_it_did(app, client):
    invoice = event("evt_log_invoice", "invoice.created", {"id": "in_log", "object": "invoice", "customer": "cus_none"})
    assert post_event(client, invoice, secret=WEBHOOK_SECRET).get_json()["outcome"] == "applied"
    received, processed = webhook_lines(app, "evt_log_invoice")
    assert (received["event"], received["deliveries"], received["type"]) == ("webhook.received", 1, "invoice.created")
    assert "outcome" not in received
    assert (processed["event"], processed["outcome"], processed["tenant_id"]) == ("webhook.processed", "applied", None)
