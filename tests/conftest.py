"""Fixtures: the app on each database backend, clients, a signed-up API client, a frozen clock."""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

import webapp.clock
from webapp import create_app
from webapp.config import TestConfig, normalise_database_url
from webapp.extensions import db as _db

# One schema per test process, so parallel runs (xdist workers, two checkouts) never share tables.
PG_SCHEMA = f"aibk_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def postgres_base_url() -> str | None:
    """The PostgreSQL URL to test on, when TEST_DATABASE_URL is set (`make test` sets it)."""
    url = os.environ.get("TEST_DATABASE_URL")
    return normalise_database_url(url) if url else None


def with_search_path(url: str, schema: str) -> str:
    """Point a PostgreSQL URL at one schema, so tests never touch the database's other tables."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def reset_pg_schema(schema: str) -> None:
    """Drop and recreate a schema (empty) on the test PostgreSQL."""
    base = postgres_base_url()
    assert base is not None
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


BACKENDS = ["sqlite"] + (["postgresql"] if postgres_base_url() else [])


def drop_pg_schema(schema: str) -> None:
    """Drop a schema of the test PostgreSQL."""
    engine = create_engine(postgres_base_url() or "", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(autouse=True)
def no_local_stack(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A `make run` serving from this checkout while the tests run is never reached by a test's Config()."""
    import webapp.config

    monkeypatch.setattr(webapp.config, "LOCAL_STACK_FILE", tmp_path_factory.getbasetemp() / "no_local_stack.json")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    """A clean schema on the test PostgreSQL for this session (None without PostgreSQL)."""
    if not postgres_base_url():
        yield None
        return
    reset_pg_schema(PG_SCHEMA)
    yield with_search_path(postgres_base_url() or "", PG_SCHEMA)
    drop_pg_schema(PG_SCHEMA)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on; every database test runs on each available backend."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, pg_url: str | None) -> str:
    """A fresh SQLite file, or the session's PostgreSQL schema."""
    if backend == "postgresql":
        assert pg_url is not None
        return pg_url
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Config overrides for one test module or test (override this fixture)."""
    return {}


@contextmanager
def running_app(database_url: str, overrides: dict[str, Any]) -> Iterator[Flask]:
    """Build the app on a clean database and hold its app context; empty the database afterwards."""
    application = create_app(TestConfig(database_url=database_url, **overrides))
    with application.app_context():
        _db.create_all()
        try:
            yield application
        finally:
            _db.session.remove()
            if database_url.startswith("postgresql"):
                tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
                _db.session.execute(text(f"TRUNCATE {tables} CASCADE"))
                _db.session.commit()
                _db.session.remove()
            _db.engine.dispose()


@pytest.fixture
def app(database_url: str, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    """The app on a clean database, inside an app context."""
    with running_app(database_url, app_overrides) as application:
        yield application


@pytest.fixture
def db(app: Flask) -> Any:
    """The Flask-SQLAlchemy handle, bound to the test app."""
    return _db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@dataclass
class ApiClient:
    """A signed-up tenant's client: every request carries its Bearer token."""

    client: FlaskClient
    token: str
    tenant_id: str
    user_id: str
    email: str
    headers: dict[str, str] = field(default_factory=dict)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **self.headers, **(extra or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers=self._headers(headers), **kw)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, headers=self._headers(headers), **kw)

    def delete(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.delete(path, headers=self._headers(headers), **kw)


_counter = {"n": 0}


def signup_api_client(client: FlaskClient, email: str | None = None, password: str = "testpass123",
                      full_name: str = "Test User") -> ApiClient:
    """Sign a new tenant up through the API and return its authenticated client."""
    _counter["n"] += 1
    email = email or f"user{_counter['n']}@example.com"
    resp = client.post("/api/auth/signup", json={"email": email, "password": password, "full_name": full_name})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    return ApiClient(client=client, token=body["token"], tenant_id=body["tenant_id"], user_id=body["user_id"],
                     email=email)


@pytest.fixture
def api_client(app: Flask) -> ApiClient:
    """A freshly signed-up tenant, talking to the API with its Bearer token."""
    return signup_api_client(app.test_client())


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@dataclass
class BrowserUser:
    """A user logged in through the real forms, with the session cookie in `client`."""

    client: FlaskClient
    email: str
    password: str

    def csrf(self, path: str = "/account") -> str:
        return csrf_token_from(self.client.get(path).get_data(as_text=True))


@pytest.fixture
def user(app: Flask) -> ApiClient:
    """A signed-up user (through the API), not logged in to the browser session."""
    return signup_api_client(app.test_client(), email="owner@example.com")


@pytest.fixture
def logged_in(app: Flask, user: ApiClient) -> BrowserUser:
    """`user`, logged in through the real log-in form (CSRF token and all)."""
    web = app.test_client()
    token = csrf_token_from(web.get("/login").get_data(as_text=True))
    resp = web.post("/login", data={"email": user.email, "password": "testpass123", "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return BrowserUser(client=web, email=user.email, password="testpass123")


class FrozenClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """Freeze webapp.clock.now at 2025-01-31 23:59 UTC (a month end); move it with .set/.advance."""
    frozen = FrozenClock(datetime(2025, 1, 31, 23, 59, tzinfo=UTC))
    monkeypatch.setattr(webapp.clock, "now", frozen.now)
    return frozen


class LogRecords(logging.Handler):
    """Collects the `webapp` logger's records (it does not propagate, so pytest's caplog never sees them)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def max_level(self) -> int:
        """The highest level logged so far (0 when nothing was)."""
        return max((r.levelno for r in self.records), default=0)


@pytest.fixture
def webapp_log() -> Iterator[LogRecords]:
    """Every record the app logs during the test, with its level and exc_info."""
    handler = LogRecords()
    logger = logging.getLogger("webapp")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
