"""render.yaml: it parses, and holds the web service and the runbook's cron block as the deploy needs them."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def blueprint() -> dict:
    return yaml.safe_load((ROOT / "render.yaml").read_text())


def by_name(name: str) -> dict:
    return next(s for s in blueprint()["services"] if s["name"] == name)


def env_keys(service: dict) -> set[str]:
    return {v["key"] for v in service.get("envVars", [])}


def test_render_yaml_holds_the_runbooks_monthly_rollover_cron_block():
    cron = by_name("monthly-usage-rollover")
    assert cron["type"] == "cron" and cron["schedule"] == "0 0 1 * *"
    assert cron["startCommand"] == "python scripts/roll_usage_month.py"
    assert (ROOT / "scripts" / "roll_usage_month.py").exists()
    assert {"DATABASE_URL", "SECRET_KEY"} <= env_keys(cron)


def test_render_yaml_web_service_runs_gunicorn_with_health_check_and_migrations_first():
    web = by_name("ai-bookkeeper")
    assert web["type"] == "web" and web["healthCheckPath"] == "/healthz"
    assert web["preDeployCommand"] == "flask db upgrade"
    assert re.search(r"\bgunicorn -c gunicorn\.conf\.py\b.*--timeout \$REQUEST_TIMEOUT_SECONDS\b.*\bwsgi:app$",
                     web["startCommand"])
    assert (ROOT / "gunicorn.conf.py").exists() and (ROOT / "wsgi.py").exists()


def test_render_yaml_declares_postgresql_and_redis_and_wires_them_in():
    data = blueprint()
    db_name = data["databases"][0]["name"]
    redis = next(s for s in data["services"] if s["type"] in ("keyvalue", "redis"))
    env = {v["key"]: v for v in by_name("ai-bookkeeper")["envVars"]}
    assert env["DATABASE_URL"]["fromDatabase"] == {"name": db_name, "property": "connectionString"}
    assert env["REDIS_URL"]["fromService"]["name"] == redis["name"]


def test_render_yaml_lists_every_setting_the_web_service_needs_each_documented_in_the_readme():
    web = env_keys(by_name("ai-bookkeeper"))
    needed = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
              "METRICS_TOKEN", "SESSION_COOKIE_SECURE", "FLASK_APP", "TRUSTED_PROXIES", "REQUEST_TIMEOUT_SECONDS"}
    assert needed <= web
    readme = (ROOT / "README.md").read_text()
    for key in web - {"FLASK_APP", "PYTHON_VERSION"}:
        assert f"`{key}`" in readme or key.startswith("STRIPE_PRICE_"), f"{key} is not in the README's table"
    secrets = {v["key"] for v in by_name("ai-bookkeeper")["envVars"] if v.get("sync") is False}
    assert {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} <= secrets
