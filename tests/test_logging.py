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
