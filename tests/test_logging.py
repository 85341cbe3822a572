"""Logs: one JSON line per request, and no secret ever written."""
from __future__ import annotations

import json

import pytest


@pytest.fixture
def app_overrides(tmp_path):
    return {"LOG_FILE": str(tmp_path / "app.log")}


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


def test_a_record_is_formatted_to_json_once_for_both_stderr_and_the_file(monkeypatch, app, client):
    import logging

    import webapp.logs

    encoded: list[str] = []
    real_encoder = webapp.logs._ENCODER

    class CountingEncoder:
        def encode(self, obj):
            if isinstance(obj, dict) and "event" in obj:
                encoded.append(obj["event"])
            return real_encoder.encode(obj)

    monkeypatch.setattr(webapp.logs, "_ENCODER", CountingEncoder())
    client.get("/healthz")
    assert encoded.count("request") == 1
    ours = [h for h in logging.getLogger("webapp").handlers if getattr(h, webapp.logs._OURS, False)]
    assert len(ours) == 2  # stderr and the file, both written
    assert [r for r in read_log(app) if r["event"] == "request"][-1]["path"] == "/healthz"


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
