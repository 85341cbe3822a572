"""Issue 11, findings 5 and 6: rate limits that hold (shared, fail open, per real client) and sessions that end."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import logging
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import g

from tests.conftest import ApiClient, csrf_token_from
from tests.test_local_stack_parts import load_run_dev

ROOT = Path(__file__).resolve().parent.parent
GOOD = {"email": "rl@example.com", "password": "testpass123", "full_name": "Rate Limited"}


def redis_answers(port: int = 6379) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


needs_redis = pytest.mark.skipif(not redis_answers(), reason="no Redis answers on 127.0.0.1:6379")


# --- Finding 5 -------------------------------------------------------------------------------------------

class TestRedisDown:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{closed_port()}/0", "AUTH_RATE_LIMIT": "2 per minute"}

    def test_sign_up_and_log_in_fail_open_with_one_error_line_when_the_storage_is_down(
            self, client: Any, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO)
        signup = client.post("/api/auth/signup", json=GOOD)
        login = client.post("/api/auth/login", json={"email": GOOD["email"], "password": GOOD["password"]})
        page = client.get("/login")
        assert (signup.status_code, login.status_code, page.status_code) == (201, 200, 200)
        failures = [r for r in caplog.records if r.getMessage() == "ratelimit.storage_failed"]
        assert failures and all(r.levelno == logging.ERROR and r.name == "webapp.rate_limits" for r in failures)
        assert not [r for r in caplog.records if r.exc_info]  # a line, not a traceback
        assert not [r for r in caplog.records if r.name == "flask-limiter" and r.levelno >= logging.ERROR]


@needs_redis
class TestSharedRedis:
    @pytest.fixture
    def address(self) -> str:
        """A client address of this test alone: the Redis is shared with every other test run."""
        n = uuid.uuid4().int
        return f"10.{n % 250}.{n // 250 % 250}.{n // 62500 % 250 + 1}"

    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0", "AUTH_RATE_LIMIT": "10 per minute"}

    def test_two_processes_share_one_count(self, client: Any, address: str, database_url: str) -> None:
        def attempt() -> int:
            return client.post("/api/auth/login", json={"email": "x@example.com", "password": "nope-nope"},
                               environ_base={"REMOTE_ADDR": address}).status_code

        first = [attempt() for _ in range(6)]
        other_process = textwrap.dedent(f"""
            from webapp import create_app
            from webapp.config import TestConfig
            app = create_app(TestConfig(database_url={database_url!r}, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
                                        AUTH_RATE_LIMIT="10 per minute"))
            with app.app_context():
                c = app.test_client()
                print(",".join(str(c.post("/api/auth/login", json={{"email": "x@example.com", "password": "nope-nope"}},
                                          environ_base={{"REMOTE_ADDR": {address!r}}}).status_code)
                               for _ in range(6)))
        """)
        out = subprocess.run([sys.executable, "-c", other_process], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, check=True)
        second = [int(code) for code in out.stdout.strip().splitlines()[-1].split(",")]
        assert first == [401] * 6
        assert second == [401] * 4 + [429] * 2  # 10 a minute across both processes, not 10 each


def test_make_run_uses_the_redis_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    run_dev = load_run_dev()
    monkeypatch.delenv("REDIS_URL", raising=False)
    if redis_answers():
        assert run_dev.choose_rate_limit_storage() == "redis://127.0.0.1:6379/0"
    monkeypatch.delenv("REDIS_URL", raising=False)


def test_make_run_warns_once_and_stays_in_memory_without_redis(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    run_dev = load_run_dev()
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert run_dev.choose_rate_limit_storage(port=closed_port()) is None
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1 and "per worker process" in err
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/1")
    assert run_dev.choose_rate_limit_storage(port=closed_port()) == "redis://cache.internal:6379/1"


class TestBehindAProxy:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"AUTH_RATE_LIMIT": "2 per minute", "TRUSTED_PROXIES": 1}

    def test_clients_behind_the_proxy_get_their_own_buckets(self, client: Any) -> None:
        def attempt(ip: str) -> int:
            return client.post("/api/auth/login", json={"email": "x@example.com", "password": "nope-nope"},
                               headers={"X-Forwarded-For": ip}, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code

        assert [attempt("203.0.113.5") for _ in range(3)] == [401, 401, 429]
        assert attempt("198.51.100.7") == 401


class TestNoTrustedProxy:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"AUTH_RATE_LIMIT": "2 per minute"}

    def test_forwarded_for_is_ignored_unless_proxies_are_trusted(self, client: Any) -> None:
        codes = [client.post("/api/auth/login", json={"email": "x@example.com", "password": "nope-nope"},
                             headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(3)]
        assert codes == [401, 401, 429]  # a client cannot pick a fresh bucket per request


# --- Finding 6 -------------------------------------------------------------------------------------------

def fresh_get(web: Any, path: str) -> Any:
    """GET as a request of its own: the test's shared app context keeps the last user and CSRF token in `g`."""
    g.pop("csrf_token", None)
    g.pop("_login_user", None)
    return web.get(path)


def fresh_csrf(web: Any, path: str) -> str:
    """The CSRF token of this client's session."""
    return csrf_token_from(fresh_get(web, path).get_data(as_text=True))


def log_in(app: Any, user: ApiClient, remember: bool = False) -> Any:
    web = app.test_client()
    token = fresh_csrf(web, "/login")
    data = {"email": user.email, "password": "testpass123", "csrf_token": token, **({"remember": "on"} if remember else {})}
    resp = web.post("/login", data=data)
    assert resp.status_code == 302
    return web, resp


class TestCookies:
    @pytest.fixture
    def app_overrides(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")  # as production sets it; the remember cookie follows
        return {}

    def test_remember_me_cookie_is_secure_httponly_and_lasts_14_days(self, app: Any, user: ApiClient) -> None:
        _, resp = log_in(app, user, remember=True)
        cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
        assert abs((expires - datetime.now(UTC)).total_seconds() - 14 * 86400) < 120


def test_remember_cookie_flags_follow_the_session_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp.config import Config

    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    monkeypatch.setenv("REMEMBER_COOKIE_DAYS", "3")
    config = Config()
    assert config.REMEMBER_COOKIE_SECURE is True and config.REMEMBER_COOKIE_HTTPONLY is True
    assert config.REMEMBER_COOKIE_DURATION.days == 3
    monkeypatch.delenv("REMEMBER_COOKIE_DAYS")
    assert Config().REMEMBER_COOKIE_DURATION.days == 14


def test_a_copied_session_cookie_stops_working_after_log_out(app: Any, user: ApiClient) -> None:
    web, _ = log_in(app, user)
    session_cookie = web.get_cookie("session").value
    token = fresh_csrf(web, "/account")
    assert web.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", session_cookie)
    assert fresh_get(thief, "/account").status_code == 302  # to the log-in page


def test_a_remember_me_cookie_stops_working_after_log_out(app: Any, user: ApiClient) -> None:
    web, _ = log_in(app, user, remember=True)
    remember = web.get_cookie("remember_token").value
    before = app.test_client()
    before.set_cookie("remember_token", remember)
    assert fresh_get(before, "/account").status_code == 200  # the cookie alone logs in, until log-out
    token = fresh_csrf(web, "/account")
    web.post("/logout", data={"csrf_token": token})
    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert fresh_get(thief, "/account").status_code == 302


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app: Any, user: ApiClient, db: Any) -> None:
    laptop, _ = log_in(app, user, remember=True)
    phone, _ = log_in(app, user)
    token = fresh_csrf(laptop, "/account")
    resp = laptop.post("/account/password", data={"csrf_token": token, "current_password": "testpass123",
                                                  "new_password": "a-new-pass-123"})
    assert resp.status_code == 302
    assert fresh_get(laptop, "/account").status_code == 200
    assert fresh_get(phone, "/account").status_code == 302
    assert user.get("/api/auth/me").status_code == 200  # API tokens are not browser sessions
    assert app.test_client().post("/api/auth/login", json={"email": user.email,
                                                           "password": "a-new-pass-123"}).status_code == 200


def test_a_wrong_current_password_changes_nothing_and_says_so_next_to_the_field(app: Any, user: ApiClient) -> None:
    web, _ = log_in(app, user)
    other, _ = log_in(app, user)
    token = fresh_csrf(web, "/account")
    resp = web.post("/account/password", data={"csrf_token": token, "current_password": "wrong-one",
                                               "new_password": "a-new-pass-123"})
    assert resp.status_code == 400 and 'id="current_password-error"' in resp.get_data(as_text=True)
    assert fresh_get(other, "/account").status_code == 200


class TestOnlyDecoratedRoutesAreChecked:
    """The limiter's every-request pass is left out while all limits are route decorators."""

    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"AUTH_RATE_LIMIT": "3 per minute"}

    def test_the_auth_limit_still_holds_without_the_limiters_every_request_pass(self, app: Any, client: Any) -> None:
        from webapp.extensions import limiter

        assert limiter._check_request_limit not in app.before_request_funcs.get(None, [])
        answers = [client.post("/api/auth/login", json={"email": "x@example.com", "password": "nope-nope"},
                               environ_base={"REMOTE_ADDR": "10.9.8.7"}) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        refused = answers[-1].headers  # the 429 goes through the error handler, and keeps the limiter's headers
        assert (refused["X-RateLimit-Limit"], refused["X-RateLimit-Remaining"]) == ("3", "0")
        assert int(refused["Retry-After"]) > 0

    def test_a_limited_route_still_answers_with_its_rate_limit_headers(self, client: Any) -> None:
        resp = client.post("/api/auth/login", json={"email": "x@example.com", "password": "nope-nope"},
                           environ_base={"REMOTE_ADDR": "10.9.8.5"})
        assert resp.status_code == 401
        assert (resp.headers["X-RateLimit-Limit"], resp.headers["X-RateLimit-Remaining"]) == ("3", "2")
        assert int(resp.headers["X-RateLimit-Reset"]) > 0

    def test_a_route_without_a_limit_answers_without_rate_limit_headers(self, client: Any) -> None:
        resp = client.get("/healthz", environ_base={"REMOTE_ADDR": "10.9.8.5"})
        assert resp.status_code == 200 and not [h for h in resp.headers.keys() if h.startswith("X-RateLimit")]

    def test_the_limiter_keeps_no_state_for_a_request_that_checked_no_limit(self, app: Any, client: Any) -> None:
        from flask.globals import request_ctx

        from webapp.rate_limits import LIMITER_CONTEXT

        kept: dict[str, bool] = {}

        @app.teardown_request  # runs after every after_request hook (and before the limiter's own teardown)
        def note(exc: BaseException | None) -> None:
            kept[request_ctx.request.path] = hasattr(request_ctx, LIMITER_CONTEXT)

        client.get("/healthz")
        client.post("/api/auth/login", json={"email": "x@example.com", "password": "nope-nope"},
                    environ_base={"REMOTE_ADDR": "10.9.8.3"})
        assert kept == {"/healthz": False, "/api/auth/login": True}


class TestADefaultLimitKeepsTheEveryRequestPass:
    @pytest.fixture
    def app_overrides(self) -> dict[str, Any]:
        return {"RATELIMIT_DEFAULT": "2 per minute"}

    def test_a_configured_default_limit_applies_to_every_route(self, app: Any, client: Any) -> None:
        from webapp.extensions import limiter

        assert limiter._check_request_limit in app.before_request_funcs.get(None, [])
        codes = [client.get("/healthz", environ_base={"REMOTE_ADDR": "10.9.8.6"}).status_code for _ in range(3)]
        assert codes[:2] == [200, 200] and codes[2] == 429
