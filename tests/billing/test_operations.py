"""Operator tooling: bootstrap, replay, reconcile and manual reactivation, with the audit trail."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from tests.billing.conftest import API_KEY
from tests.billing.helpers import post_event, subscribe
from webapp.billing import cli as billing_cli
from webapp.billing import stripe_gateway
from webapp.models import BillingAudit, BillingEvent

ROOT = Path(__file__).resolve().parents[2]


def run_script(name: str, *args: str, env: dict[str, str], stdin: int | None = subprocess.DEVNULL
               ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SCHEDULER_ENABLED": "0", **env}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], capture_output=True, text=True,
                          env=full_env, stdin=stdin, timeout=60, cwd=str(ROOT))


def product_count(billing) -> int:
    return len(billing.stripe.v1.products.list({"limit": 100}).data)


def test_bootstrap_twice_creates_nothing_more_and_prints_the_same_ids(billing, tmp_path):
    runner = billing.app.test_cli_runner()
    first = runner.invoke(args=["billing", "bootstrap"])
    products = product_count(billing)
    second = runner.invoke(args=["billing", "bootstrap"])
    assert first.exit_code == second.exit_code == 0, first.output
    assert first.output == second.output and product_count(billing) == products == 4
    printed = json.loads(first.output.split("\n#")[0])
    assert printed["starter"] == {**billing.catalog["starter"]}
    assert printed["starter"]["metadata"] == {"plan": "starter", "tx_cap": "300", "bulk_approve": "false",
                                              "included_companies": "1"}
    assert printed["pro"]["amount"] == 14900 and printed["firm"]["amount"] == 49900
    assert printed["firm_addon"]["amount"] == 2500
    for line in ("STRIPE_PRODUCT_STARTER=", "STRIPE_PRICE_STARTER=", "STRIPE_PRODUCT_PRO=", "STRIPE_PRICE_PRO=",
                 "STRIPE_PRODUCT_FIRM=", "STRIPE_PRICE_FIRM=", "STRIPE_PRICE_FIRM_ADDON="):
        assert line in first.output
    saved = json.loads(Path(billing.app.config["STRIPE_PRODUCTS_FILE"]).read_text())
    assert saved["test"]["pro"]["price_id"] == billing.catalog["pro"]["price_id"]


def test_bootstrap_script_prints_the_runbook_json_and_env_lines(billing, tmp_path):
    env = {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_API_BASE": billing.emulator.url,
           "STRIPE_PRODUCTS_FILE": str(tmp_path / "products.json"), "DATABASE_URL": f"sqlite:///{tmp_path}/s.db"}
    result = run_script("stripe_bootstrap.py", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.split("\n#")[0])["starter"]["price_id"] == billing.catalog["starter"]["price_id"]
    assert f"STRIPE_PRICE_FIRM_ADDON={billing.catalog['firm_addon']['price_id']}" in result.stdout


def test_bootstrap_with_a_live_key_and_no_terminal_aborts_with_nothing_created(billing, tmp_path):
    before = product_count(billing)
    env = {"STRIPE_SECRET_KEY": "sk_live_not_really", "STRIPE_API_BASE": billing.emulator.url,
           "STRIPE_PRODUCTS_FILE": str(tmp_path / "products.json"), "DATABASE_URL": f"sqlite:///{tmp_path}/s.db"}
    result = run_script("stripe_bootstrap.py", env=env)
    assert result.returncode == 1 and "LIVE" in result.stderr
    assert product_count(billing) == before and not (tmp_path / "products.json").exists()


def test_bootstrap_with_a_live_key_needs_yes_typed_at_the_prompt(billing, monkeypatch):
    gw = stripe_gateway.gateway()
    monkeypatch.setattr(gw, "api_key", "sk_live_pretend")
    monkeypatch.setattr(billing_cli, "stdin_is_terminal", lambda: True)
    before = product_count(billing)
    for answer in ("no\n", "YES!\n", "\n"):
        result = billing.app.test_cli_runner().invoke(args=["billing", "bootstrap"], input=answer)
        assert result.exit_code == 1 and "nothing was created" in result.output
    assert product_count(billing) == before


def test_bootstrap_with_a_missing_or_rejected_key_says_so_and_exits_non_zero(billing, tmp_path):
    base = {"STRIPE_API_BASE": billing.emulator.url, "STRIPE_PRODUCTS_FILE": str(tmp_path / "p.json"),
            "DATABASE_URL": f"sqlite:///{tmp_path}/s.db"}
    missing = run_script("stripe_bootstrap.py", env={**base, "STRIPE_SECRET_KEY": ""})
    assert missing.returncode == 1 and "STRIPE_SECRET_KEY is not set" in missing.stderr
    rejected = run_script("stripe_bootstrap.py", env={**base, "STRIPE_SECRET_KEY": "not_a_key"})
    assert rejected.returncode == 1 and "rejected" in rejected.stderr.lower()


def test_replay_of_a_failed_event_applies_it_once_the_cause_is_fixed(billing, tenant, db, monkeypatch):
    subscribe(billing, tenant)
    ent = billing.entitlement(tenant.tenant_id)
    sub = json.loads(str(billing.stripe.v1.subscriptions.retrieve(ent.stripe_subscription_id)))
    ent.plan, ent.active, ent.tx_cap = "free", False, 0
    db.session.commit()
    event = {"id": "evt_replay_me", "object": "event", "type": "customer.subscription.updated",
             "created": sub["created"] + 1, "data": {"object": sub}, "livemode": False}
    real = stripe_gateway.StripeGateway.retrieve_subscription
    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription",
                        lambda self, sid: (_ for _ in ()).throw(ConnectionError("Stripe unreachable")))
    assert post_event(billing.app.test_client(), event).status_code == 500
    assert billing.entitlement(tenant.tenant_id).plan == "free"
    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription", real)
    runner = billing.app.test_cli_runner()
    dry = runner.invoke(args=["billing", "replay", "--failed", "--dry-run"])
    assert "evt_replay_me" in dry.output and "would change" in dry.output
    assert billing.entitlement(tenant.tenant_id).plan == "free"
    done = runner.invoke(args=["billing", "replay", "--failed"])
    assert done.exit_code == 0 and "plan 'free' → 'starter'" in done.output
    db.session.expire_all()
    row = db.session.scalars(select(BillingEvent).where(BillingEvent.event_id == "evt_replay_me")).one()
    assert row.processed and row.outcome == "applied" and row.last_error is None
    assert billing.entitlement(tenant.tenant_id).plan == "starter"
    again = runner.invoke(args=["billing", "replay", "--failed"])
    assert "Nothing to replay" in again.output


def test_replay_needs_an_event_id_or_failed_and_reports_unknown_ids(billing):
    runner = billing.app.test_cli_runner()
    assert runner.invoke(args=["billing", "replay"]).exit_code == 2
    unknown = runner.invoke(args=["billing", "replay", "evt_nope"])
    assert unknown.exit_code == 2 and unknown.output.strip() == "✗ No stored event evt_nope. Nothing changed."


def test_reconcile_fixes_drift_from_stripe_and_prints_it(billing, tenant, db):
    subscribe(billing, tenant, "pro")
    ent = billing.entitlement(tenant.tenant_id)
    ent.plan, ent.tx_cap, ent.active = "starter", 300, False
    db.session.commit()
    dry = billing.app.test_cli_runner().invoke(args=["billing", "reconcile", "--dry-run", tenant.tenant_id])
    assert f"tenant={tenant.tenant_id} drift found: would change " in dry.output and "fixed" not in dry.output
    assert billing.entitlement(tenant.tenant_id).plan == "starter"
    result = billing.app.test_cli_runner().invoke(args=["billing", "reconcile", tenant.tenant_id])
    assert result.exit_code == 0 and "drift fixed: changed " in result.output and "'starter' → 'pro'" in result.output
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.plan, ent.tx_cap, ent.active) == ("pro", 2000, True)
    again = billing.app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert "in sync" in again.output


def test_reconcile_reads_tenants_a_batch_at_a_time_and_streams_a_report_for_each(billing, tenant, db,
                                                                                   monkeypatch):
    from sqlalchemy import event

    from tests.billing.conftest import signup_over_http
    from webapp.billing import operations

    subscribe(billing, tenant, "pro")
    others = [signup_over_http(billing.url, f"batch{i}@example.com") for i in range(4)]
    for other in others:  # billing customers with no subscription: reported, never skipped
        customer = billing.stripe.v1.customers.create({"email": other.email})
        billing.entitlement(other.tenant_id).stripe_customer_id = customer.id
        db.session.commit()
    monkeypatch.setattr(operations, "RECONCILE_BATCH", 2)
    id_reads: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT entitlements.tenant_id") and "LIMIT" in statement:
            id_reads.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = billing.app.test_cli_runner().invoke(args=["billing", "reconcile", "--json"])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)
    assert result.output == json.dumps(reports, indent=2, ensure_ascii=False) + "\n"  # emit's exact text
    assert sorted(r["tenant_id"] for r in reports) == sorted([tenant.tenant_id] + [o.tenant_id for o in others])
    assert [r["outcome"] for r in reports if r["tenant_id"] != tenant.tenant_id] == ["no subscription"] * 4
    assert len(id_reads) == 3  # 5 billed tenants, 2 ids a read: the reads stay small however many there are
    human = billing.app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert human.exit_code == 0 and human.output.splitlines()[-1] == "5 item(s); 0 with changes"


def test_reconcile_with_no_billing_customers_says_nothing_to_do(billing):
    result = billing.app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert result.exit_code == 0 and result.output == "Nothing to do.\n"
    as_json = billing.app.test_cli_runner().invoke(args=["billing", "reconcile", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output) == []


def make_past_due(billing, tenant, db) -> None:
    ent = billing.entitlement(tenant.tenant_id)
    ent.plan, ent.tx_cap, ent.active, ent.subscription_status = "starter", 300, False, "past_due"
    db.session.commit()


def test_reactivate_command_starts_an_override_and_keeps_an_audit_row(billing, tenant, db):
    make_past_due(billing, tenant, db)
    result = billing.app.test_cli_runner().invoke(args=["billing", "reactivate", tenant.tenant_id,
                                                        "--actor", "alice"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"✓ Reactivated subscription for {tenant.tenant_id}"
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.active, ent.subscription_status) == (False, "past_due")  # Stripe's state is kept as it is
    assert tenant.get("/api/billing/status").get_json()["effective_plan"] == "starter"
    row = db.session.scalars(select(BillingAudit).where(BillingAudit.tenant_id == tenant.tenant_id)).one()
    assert row.actor == "alice" and row.action == "manual_reactivate" and "runbook" in row.reason
    assert json.loads(row.before_json)["active"] is False and json.loads(row.after_json)["active"] is True


def test_reactivate_of_an_unknown_tenant_is_one_line_and_exit_2(billing):
    result = billing.app.test_cli_runner().invoke(args=["billing", "reactivate", "tenant_nope"])
    assert result.exit_code == 2 and result.output.strip() == "✗ No tenant 'tenant_nope'. Nothing changed."


def test_reactivate_of_a_tenant_on_the_free_plan_refuses_and_changes_nothing(billing, tenant, db):
    result = billing.app.test_cli_runner().invoke(args=["billing", "reactivate", tenant.tenant_id])
    assert result.exit_code == 2 and "free plan" in result.output
    assert tenant.get("/api/billing/status").get_json()["effective_plan"] == "free"
    assert db.session.scalar(select(BillingAudit)) is None


def test_reactivate_script_prints_the_runbook_line_and_exits_2_for_unknown_tenants(billing, tenant, db,
                                                                                   database_url):
    env = {"DATABASE_URL": database_url}
    make_past_due(billing, tenant, db)
    ok = run_script("admin_reactivate_subscription.py", tenant.tenant_id, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == f"✓ Reactivated subscription for {tenant.tenant_id}"
    assert "or until the next paid invoice" in ok.stdout
    assert tenant.get("/api/billing/status").get_json()["effective_plan"] == "starter"
    bad = run_script("admin_reactivate_subscription.py", "tenant_missing", env=env)
    assert bad.returncode == 2 and bad.stderr.strip() == "✗ No tenant 'tenant_missing'. Nothing changed."


def test_bootstrap_keeps_one_portal_configuration_that_switches_between_the_plan_prices(billing, logged_in_billing):
    from webapp.billing import bootstrap as bootstrap_service

    configs = billing.stripe.v1.billing_portal.configurations.list({"limit": 100}).data
    assert len(configs) == 1 and configs[0].metadata["app"] == "ai-bookkeeper"
    update = configs[0].features.subscription_update
    assert update.enabled and update.default_allowed_updates == ["price", "quantity"]
    assert sorted(p.prices[0] for p in update.products) == sorted(
        billing.catalog[k]["price_id"] for k in ("starter", "pro", "firm", "firm_addon"))
    billing.stripe.v1.billing_portal.configurations.update(configs[0].id, {"features": {"subscription_update": {
        "products": [{"product": billing.catalog["pro"]["product_id"], "prices": [billing.catalog["pro"]["price_id"]]}]}}})
    bootstrap_service.bootstrap()  # drift is put right, nothing new is created
    again = billing.stripe.v1.billing_portal.configurations.list({"limit": 100}).data
    assert [c.id for c in again] == [configs[0].id] and len(again[0].features.subscription_update.products) == 4
