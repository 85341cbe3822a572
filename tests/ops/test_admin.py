"""Admins: granted and revoked by command (audited); /admin refused to anyone else; replay from /admin audited."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import csrf_token_from, signup_api_client
from tests.ops.helpers import log_in, make_admin, store_event
from webapp.extensions import db
from webapp.models import AlertState, BillingEvent, OpsAudit, User
from webapp.ops import alerts

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def admin_web(app, client):
    signup_api_client(client, email="ops@example.com")
    make_admin("ops@example.com")
    return log_in(app, "ops@example.com")


def is_admin(email: str) -> bool:
    db.session.expire_all()
    return db.session.scalars(select(User.is_admin).where(User.email == email)).one()


def test_grant_and_revoke_admin_change_the_flag_and_write_one_audit_row_each(app, client, monkeypatch):
    monkeypatch.setenv("SUDO_USER", "dana")
    user = signup_api_client(client, email="Ops@Example.com")
    runner = app.test_cli_runner()
    granted = runner.invoke(args=["ops", "grant-admin", "OPS@example.com"])
    assert granted.exit_code == 0 and granted.output == "ops@example.com is now an admin.\n"
    assert is_admin("ops@example.com")
    again = runner.invoke(args=["ops", "grant-admin", "ops@example.com"])
    assert again.exit_code == 0 and "already an admin: nothing changed" in again.output
    revoked = runner.invoke(args=["ops", "revoke-admin", "ops@example.com"])
    assert revoked.exit_code == 0 and revoked.output == "ops@example.com is no longer an admin.\n"
    assert not is_admin("ops@example.com")
    rows = db.session.scalars(select(OpsAudit).order_by(OpsAudit.id)).all()
    assert [(r.action, r.actor, r.subject, r.tenant_id) for r in rows] == [
        ("grant_admin", "flask ops grant-admin (by dana)", "ops@example.com", user.tenant_id),
        ("revoke_admin", "flask ops revoke-admin (by dana)", "ops@example.com", user.tenant_id)]
    assert json.loads(rows[0].detail_json)["is_admin"] == "False → True"


@pytest.mark.parametrize("email", ["nobody@example.com", "not an email"])
def test_grant_admin_refuses_an_unknown_email_with_exit_2_and_changes_nothing(app, email):
    out = app.test_cli_runner().invoke(args=["ops", "grant-admin", email])
    assert out.exit_code == 2 and "No user with the email" in out.output
    assert db.session.scalars(select(OpsAudit)).all() == []


def test_admin_pages_send_an_anonymous_visitor_to_log_in(app, client, clock):
    clock.set(NOW)
    event = store_event(NOW, "failed", type_="customer.created")
    page = client.get("/admin")
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=%2Fadmin"
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    replay = client.post(f"/admin/events/{event.event_id}/replay", data={"csrf_token": token})
    assert replay.status_code == 302 and replay.headers["Location"].startswith("/login?next=")
    db.session.expire_all()
    assert db.session.get(BillingEvent, event.id).outcome == "failed"


def test_admin_pages_answer_403_to_a_signed_in_non_admin(app, logged_in, clock):
    clock.set(NOW)
    event = store_event(NOW, "failed", type_="customer.created")
    page = logged_in.client.get("/admin")
    assert page.status_code == 403 and "administrators" in page.get_data(as_text=True)
    token = logged_in.csrf()
    replay = logged_in.client.post(f"/admin/events/{event.event_id}/replay", data={"csrf_token": token})
    assert replay.status_code == 403
    db.session.expire_all()
    assert db.session.get(BillingEvent, event.id).outcome == "failed"
    assert "Admin</a>" not in logged_in.client.get("/account").get_data(as_text=True)


def test_an_admins_api_token_never_reaches_admin_pages(app, client):
    api = signup_api_client(client, email="ops@example.com")
    make_admin("ops@example.com")
    fresh = app.test_client()
    resp = fresh.get("/admin", headers={"Authorization": f"Bearer {api.token}"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    as_json = fresh.get("/admin", headers={"Authorization": f"Bearer {api.token}", "Accept": "application/json"})
    assert as_json.status_code == 302


def test_the_admin_page_shows_the_report_charts_and_stored_alerts(app, admin_web, clock):
    clock.set(NOW)
    store_event(NOW - timedelta(hours=1), "applied")
    failed = store_event(NOW - timedelta(hours=2), "failed", last_error="BillingUnavailable: Stripe is down")
    html = admin_web.client.get("/admin").get_data(as_text=True)
    assert "have not been evaluated yet" in html
    for chart in ("chart-webhooks", "chart-usage", "chart-payments"):
        assert f'id="{chart}"' in html
    assert html.count("<svg") == 3 and "alert above 10" in html
    assert failed.event_id in html and "BillingUnavailable: Stripe is down" in html
    assert f'aria-label="Replay {failed.event_id}"' in html
    alerts.evaluate()  # no rollover this month, 1 of 2 events failed (too few to judge)
    html = admin_web.client.get("/account").get_data(as_text=True)
    assert 'id="header-alerts"' in html and "1<span class=\"visually-hidden\"> alert firing" in html
    assert "Firing: Monthly rollover" in html


def test_replay_from_admin_runs_the_replay_service_and_is_audited(app, admin_web, clock):
    clock.set(NOW)
    event = store_event(NOW - timedelta(hours=1), "failed", type_="customer.created", last_error="boom")
    other = store_event(NOW - timedelta(hours=2), "failed", type_="customer.created", last_error="boom")
    token = admin_web.csrf("/admin")
    resp = admin_web.client.post(f"/admin/events/{event.event_id}/replay", data={"csrf_token": token},
                                 headers={"HX-Request": "true"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="events-attention"' in html and "<html" not in html   # the section alone, for the swap
    assert f"Replayed <code>{event.event_id}</code>: ignored" in html
    assert event.event_id not in html.split("</p>", 1)[1] and other.event_id in html
    db.session.expire_all()
    row = db.session.get(BillingEvent, event.id)
    assert row.processed and row.outcome == "ignored" and row.last_error is None
    audit = db.session.scalars(select(OpsAudit).where(OpsAudit.action == "replay_event")).one()
    assert (audit.actor, audit.subject) == ("/admin replay (by ops@example.com)", event.event_id)
    assert json.loads(audit.detail_json) == {"outcome": "ignored"}


def test_a_replay_that_fails_again_is_shown_and_audited_with_its_error(app, admin_web, clock):
    clock.set(NOW)
    sub = {"id": "sub_x", "object": "subscription", "status": "active", "customer": "cus_x", "metadata": {}}
    event = store_event(NOW, "failed", type_="customer.subscription.updated", last_error="old",
                        payload={"id": "evt_sub_fail", "type": "customer.subscription.updated", "created": 1,
                                 "data": {"object": sub}}, event_id="evt_sub_fail")
    token = admin_web.csrf("/admin")
    resp = admin_web.client.post(f"/admin/events/{event.event_id}/replay", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["Location"] == "/admin"
    page = admin_web.client.get("/admin").get_data(as_text=True)
    assert "Replayed evt_sub_fail: failed" in page
    audit = db.session.scalars(select(OpsAudit).where(OpsAudit.action == "replay_event")).one()
    detail = json.loads(audit.detail_json)
    assert detail["outcome"] == "failed" and detail["error"].startswith("STRIPE_UNREACHABLE: ")  # cause, then fix
    db.session.expire_all()
    assert db.session.get(BillingEvent, event.id).outcome == "failed"


def test_check_now_evaluates_the_alerts_and_refreshes_the_section_and_the_header_count(app, admin_web, clock):
    clock.set(NOW)
    token = admin_web.csrf("/admin")
    resp = admin_web.client.post("/admin/alerts/check", data={"csrf_token": token}, headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="alerts"' in html and "<html" not in html
    assert "no completed rollover for 2025-03" in html and "have not been evaluated yet" not in html
    assert '<span id="admin-nav" hx-swap-oob="true">' in html and "Firing: Monthly rollover" in html
    assert db.session.get(AlertState, alerts.ROLLOVER).firing
    plain = admin_web.client.post("/admin/alerts/check", data={"csrf_token": token})
    assert plain.status_code == 303 and plain.headers["Location"] == "/admin#alerts"


def test_check_now_is_refused_to_a_non_admin(app, logged_in, clock):
    resp = logged_in.client.post("/admin/alerts/check", data={"csrf_token": logged_in.csrf()})
    assert resp.status_code == 403 and db.session.scalars(select(AlertState)).all() == []


def test_replay_needs_a_csrf_token_and_a_known_event(app, admin_web, clock):
    clock.set(NOW)
    event = store_event(NOW, "failed", type_="customer.created")
    no_token = admin_web.client.post(f"/admin/events/{event.event_id}/replay")
    assert no_token.status_code == 400
    db.session.expire_all()
    assert db.session.get(BillingEvent, event.id).outcome == "failed"
    unknown = admin_web.client.post("/admin/events/evt_nope/replay", data={"csrf_token": admin_web.csrf("/admin")})
    assert unknown.status_code == 404
    assert db.session.scalars(select(OpsAudit).where(OpsAudit.action == "replay_event")).all() == []
