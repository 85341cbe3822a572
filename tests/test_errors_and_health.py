"""One error contract: JSON for /api/ and JSON-preferring clients, HTML pages otherwise, modals for htmx."""
from __future__ import annotations

import pytest
from flask import Flask

from webapp import create_app
from webapp.config import TestConfig
from webapp.errors import PaywallError


@pytest.fixture
def boom_app(app: Flask) -> Flask:
    """The app plus routes that fail, registered before the first request."""

    @app.get("/api/test-boom")
    def api_boom():
        raise RuntimeError("secret internals: password=hunter2")

    @app.get("/test-boom")
    def page_boom():
        raise RuntimeError("secret internals")

    @app.get("/test-paywall")
    def paywall():
        raise PaywallError("FREE_CAP_EXCEEDED", 429, "free", "Daily limit reached.", retry_after=120,
                           limit=50, used=50)

    return app


def test_unknown_api_route_is_json_404(client):
    resp = client.get("/api/no-such-thing")
    assert resp.status_code == 404
    assert resp.is_json and resp.get_json()["code"] == "NOT_FOUND" and resp.get_json()["message"]


def test_unknown_page_is_an_html_404_in_the_site_layout(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "Page not found" in html and "<title>" in html and 'id="modal"' in html


def test_page_route_gives_json_only_to_clients_that_prefer_it(client):
    assert client.get("/no-such-page", headers={"Accept": "application/json"}).is_json
    assert client.get("/no-such-page", headers={"Accept": "*/*"}).mimetype == "text/html"


def test_wrong_method_on_api_is_json_405_listing_allowed_methods(client):
    resp = client.get("/api/auth/signup")
    assert resp.status_code == 405
    body = resp.get_json()
    assert body["code"] == "METHOD_NOT_ALLOWED" and "POST" in body["allowed"]


def test_unexpected_api_error_is_json_500_without_traceback(boom_app):
    resp = boom_app.test_client().get("/api/test-boom")
    assert resp.status_code == 500
    body = resp.get_json()
    assert body["code"] == "INTERNAL_ERROR"
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "hunter2" not in text and "RuntimeError" not in text


def test_unexpected_page_error_is_an_html_500_page(boom_app):
    resp = boom_app.test_client().get("/test-boom")
    assert resp.status_code == 500 and resp.mimetype == "text/html"
    assert "Something went wrong" in resp.get_data(as_text=True)
    assert "secret internals" not in resp.get_data(as_text=True)


def test_htmx_request_gets_the_error_as_a_modal_fragment_retargeted_to_modal(boom_app):
    resp = boom_app.test_client().get("/test-paywall", headers={"HX-Request": "true"})
    assert resp.status_code == 429
    assert resp.headers["HX-Retarget"] == "#modal" and resp.headers["HX-Reswap"] == "innerHTML"
    assert resp.headers["Retry-After"] == "120"
    html = resp.get_data(as_text=True)
    assert 'aria-modal="true"' in html and "<html" not in html
    assert "HX-Request" in resp.headers["Vary"]


def test_htmx_history_restore_gets_a_full_page_not_a_fragment(boom_app):
    resp = boom_app.test_client().get("/test-paywall", headers={"HX-Request": "true",
                                                                 "HX-History-Restore-Request": "true"})
    assert "<html" in resp.get_data(as_text=True) and "HX-Retarget" not in resp.headers


def test_healthz_reports_ok_when_the_database_answers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok", "db": "ok"}


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path):
    broken = create_app(TestConfig(database_url=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"))
    resp = broken.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["db"] == "unavailable"


def test_create_app_does_no_work_at_import_and_builds_independent_apps(tmp_path):
    one = create_app(TestConfig(database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    two = create_app(TestConfig(database_url=f"sqlite:///{tmp_path / 'b.db'}"))
    assert one is not two and one.config["SQLALCHEMY_DATABASE_URI"] != two.config["SQLALCHEMY_DATABASE_URI"]


def test_settings_copied_empty_from_env_example_fall_back_to_their_defaults(monkeypatch):
    from webapp.config import DEFAULT_SQLITE_URL, Config

    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / ".env.example"
    for raw in example.read_text().splitlines():
        if raw and not raw.startswith("#") and "=" in raw:
            name, _, value = raw.partition("=")
            monkeypatch.setenv(name, value if value else "")
    config = Config()
    assert config.SQLALCHEMY_DATABASE_URI == DEFAULT_SQLITE_URL
    assert config.STRIPE_SECRET_KEY is None and config.TRIAL_DAYS == 14 and config.SECRET_KEY
