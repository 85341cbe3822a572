"""Settings, read from the environment when a Config is instantiated (never at import)."""
from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"
DEFAULT_SQLITE_URL = f"sqlite:///{INSTANCE_DIR / 'ai_bookkeeper_demo.db'}"
# Written by `make run` (scripts/run_dev.py) while it serves, removed when it stops: how the app, the
# `flask` commands, the scripts and `python -m stripe_emulator` reach the local stack's Stripe emulator.
LOCAL_STACK_FILE = INSTANCE_DIR / "local_stack.json"
LOCAL_STACK_SETTINGS = ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "STRIPE_PRODUCTS_FILE")


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def local_stack() -> dict[str, object]:
    """What `make run` wrote about the stack it is serving from this checkout; {} when none is running."""
    try:
        data = json.loads(LOCAL_STACK_FILE.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not _pid_alive(data.get("PID")):
        return {}  # left behind by a stack that was killed: its emulator is gone too
    return data


def local_stack_settings(env: dict[str, str]) -> dict[str, str]:
    """The local stack's Stripe settings, unless the environment configures Stripe itself."""
    if env.get("STRIPE_SECRET_KEY"):
        return {}
    stack = local_stack()
    return {k: str(stack[k]) for k in LOCAL_STACK_SETTINGS if stack.get(k)}


def instance_secret() -> str:
    """Return a secret key generated once into instance/ for local runs (never committed)."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _flag(name: str, default: str) -> bool:
    value = os.environ.get(name, "").strip() or default
    return value.lower() in ("1", "true", "yes", "on")


def normalise_database_url(url: str) -> str:
    """Let `postgres://` and `postgresql://` URLs use the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    """Production-shaped defaults; every value can be overridden by an environment variable."""

    TESTING = False
    LOG_FILE: str | None = str(ROOT / "logs" / "app.log")
    # Connections older than this are replaced at checkout, before a server or firewall idle timeout can
    # cut them; no pre-ping, which would cost a round trip on every request.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_recycle": 1800}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True  # storage down: let the request through, log ratelimit.storage_failed
    PASSWORD_HASH_METHOD = "scrypt"
    READ_LOCAL_STACK = True  # TestConfig: a test never reaches a developer's running stack

    def __init__(self) -> None:
        # An empty value (as in a copied .env.example) counts as unset.
        env = {k: v for k, v in os.environ.items() if v.strip()}
        if self.READ_LOCAL_STACK:
            env.update(local_stack_settings(env))
        self.SECRET_KEY = env.get("SECRET_KEY") or instance_secret()
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(env.get("DATABASE_URL", DEFAULT_SQLITE_URL))
        self.LOG_LEVEL = env.get("LOG_LEVEL", "INFO").upper()
        # Above the 2 MB CSV limit (bookkeeping/pages.py), so a too-large statement gets its field error, not a 413.
        self.MAX_CONTENT_LENGTH = int(env.get("MAX_CONTENT_LENGTH", str(3 * 1024 * 1024)))
        # A pasted statement is a form field: Flask's 500 kB default for fields would cut it off with a 413 first.
        self.MAX_FORM_MEMORY_SIZE = self.MAX_CONTENT_LENGTH
        self.SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", "0")
        # The remember-me cookie follows the session cookie's flags, and lasts REMEMBER_COOKIE_DAYS.
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_DURATION = timedelta(days=int(env.get("REMEMBER_COOKIE_DAYS", "14")))
        self.RATELIMIT_STORAGE_URI = env.get("REDIS_URL") or "memory://"
        self.AUTH_RATE_LIMIT = env.get("AUTH_RATE_LIMIT", "10 per minute")
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host (0: trust none).
        self.TRUSTED_PROXIES = int(env.get("TRUSTED_PROXIES", "0"))
        self.STRIPE_SECRET_KEY = env.get("STRIPE_SECRET_KEY")
        self.STRIPE_API_BASE = env.get("STRIPE_API_BASE")
        self.STRIPE_WEBHOOK_SECRET = env.get("STRIPE_WEBHOOK_SECRET")
        # No request outlives this (gunicorn's --timeout, which `make run` passes); a webhook's claim on an
        # event expires after it. Stripe's calls fit inside it: timeout × (retries + 1) plus back-off.
        self.REQUEST_TIMEOUT_SECONDS = int(env.get("REQUEST_TIMEOUT_SECONDS", "60"))
        self.STRIPE_TIMEOUT_SECONDS = float(env.get("STRIPE_TIMEOUT_SECONDS", "15"))
        self.STRIPE_MAX_NETWORK_RETRIES = int(env.get("STRIPE_MAX_NETWORK_RETRIES", "2"))
        # While a tenant's subscription events keep coming, its subscription is read again for them at most
        # once per this many seconds (the first read of a burst is never delayed): one read covers what
        # arrived meanwhile, and a burst stays far below Stripe's API rate limit (webapp/billing/sync_lease.py).
        self.SUBSCRIPTION_READ_INTERVAL_SECONDS = float(env.get("SUBSCRIPTION_READ_INTERVAL_SECONDS", "0.25"))
        self.BILLING_RETURN_URL = env.get("BILLING_RETURN_URL")
        # The public host and scheme: Stripe's return links when BILLING_RETURN_URL is unset (never the Host header).
        self.SERVER_NAME = env.get("SERVER_NAME")
        self.PREFERRED_URL_SCHEME = env.get("PREFERRED_URL_SCHEME", "http")
        self.TRIAL_DAYS = int(env.get("TRIAL_DAYS", "14"))
        # Where billing pages and emails tell people to write; unset: they point to the billing portal only.
        self.SUPPORT_EMAIL = env.get("SUPPORT_EMAIL")
        # Billing emails over SMTP: smtp://[user:password@]host:port (smtps://, ?starttls=1); unset: none sent.
        self.MAIL_URL = env.get("MAIL_URL")
        self.MAIL_FROM = env.get("MAIL_FROM", "AI Bookkeeper <billing@ai-bookkeeper.localhost>")
        # The dev mail sink's Maildir (make run sets it): /dev/mail lists what it received. Never in production.
        self.MAIL_SINK_DIR = env.get("MAIL_SINK_DIR")
        # Price ids from the bootstrap's .env lines; config/stripe_products.json or lookup keys otherwise.
        self.STRIPE_PRICE_IDS = {key: env[f"STRIPE_PRICE_{key.upper()}"]
                                 for key in ("starter", "pro", "firm", "firm_addon")
                                 if env.get(f"STRIPE_PRICE_{key.upper()}")}
        # A relative path is the checkout's, whatever directory a command runs from (cron, scripts).
        self.STRIPE_PRODUCTS_FILE = str(ROOT / env.get("STRIPE_PRODUCTS_FILE", "config/stripe_products.json"))
        self.SCHEDULER_ENABLED = _flag("SCHEDULER_ENABLED", "1")
        # The entitlement gate and metering; off only to benchmark the routes without it (bench/).
        self.GATE_ENABLED = _flag("GATE_ENABLED", "1")
        # /metrics answers only with this Bearer token; unset, it answers 404.
        self.METRICS_TOKEN = env.get("METRICS_TOKEN")
        # The runbook's alerts (webapp/ops/alerts.py): webhook failure share over 24 h, from how many events,
        # and failed payments in a UTC day; each fires when its figure is above the threshold.
        self.ALERT_WEBHOOK_FAILURE_PCT = float(env.get("ALERT_WEBHOOK_FAILURE_PCT", "5"))
        self.ALERT_WEBHOOK_MIN_EVENTS = int(env.get("ALERT_WEBHOOK_MIN_EVENTS", "20"))
        self.ALERT_FAILED_PAYMENTS = int(env.get("ALERT_FAILED_PAYMENTS", "10"))


class TestConfig(Config):
    """Isolated settings for tests: a given database, no log file, no scheduler."""

    __test__ = False  # not a pytest test class
    TESTING = True
    LOG_FILE = None
    READ_LOCAL_STACK = False
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast hashes; the algorithm is not under test

    def __init__(self, database_url: str, **overrides: object) -> None:
        super().__init__()
        self.SECRET_KEY = "test-secret-key"
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(database_url)
        self.RATELIMIT_STORAGE_URI = "memory://"
        self.AUTH_RATE_LIMIT = "1000 per minute"  # rate-limit tests pass a low one
        self.SCHEDULER_ENABLED = False
        self.SERVER_NAME = None
        self.STRIPE_PRICE_IDS = {}
        self.STRIPE_PRODUCTS_FILE = None
        self.METRICS_TOKEN = None
        for key, value in overrides.items():
            setattr(self, key, value)


def config_from_env() -> Config:
    """Build the Config for a real run (`wsgi.py`, the `flask` CLI)."""
    return Config()
