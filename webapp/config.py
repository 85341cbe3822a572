"""Settings, read from the environment when a Config is instantiated (never at import)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"
DEFAULT_SQLITE_URL = f"sqlite:///{INSTANCE_DIR / 'ai_bookkeeper_demo.db'}"


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
    PASSWORD_HASH_METHOD = "scrypt"

    def __init__(self) -> None:
        # An empty value (as in a copied .env.example) counts as unset.
        env = {k: v for k, v in os.environ.items() if v.strip()}
        self.SECRET_KEY = env.get("SECRET_KEY") or instance_secret()
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(env.get("DATABASE_URL", DEFAULT_SQLITE_URL))
        self.LOG_LEVEL = env.get("LOG_LEVEL", "INFO").upper()
        # Above the 2 MB CSV limit (bookkeeping/pages.py), so a too-large statement gets its field error, not a 413.
        self.MAX_CONTENT_LENGTH = int(env.get("MAX_CONTENT_LENGTH", str(3 * 1024 * 1024)))
        # A pasted statement is a form field: Flask's 500 kB default for fields would cut it off with a 413 first.
        self.MAX_FORM_MEMORY_SIZE = self.MAX_CONTENT_LENGTH
        self.SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", "0")
        self.RATELIMIT_STORAGE_URI = env.get("REDIS_URL") or "memory://"
        self.AUTH_RATE_LIMIT = env.get("AUTH_RATE_LIMIT", "10 per minute")
        self.STRIPE_SECRET_KEY = env.get("STRIPE_SECRET_KEY")
        self.STRIPE_API_BASE = env.get("STRIPE_API_BASE")
        self.STRIPE_WEBHOOK_SECRET = env.get("STRIPE_WEBHOOK_SECRET")
        self.BILLING_RETURN_URL = env.get("BILLING_RETURN_URL")
        self.TRIAL_DAYS = int(env.get("TRIAL_DAYS", "14"))
        # Price ids from the bootstrap's .env lines; config/stripe_products.json or lookup keys otherwise.
        self.STRIPE_PRICE_IDS = {key: env[f"STRIPE_PRICE_{key.upper()}"]
                                 for key in ("starter", "pro", "firm", "firm_addon")
                                 if env.get(f"STRIPE_PRICE_{key.upper()}")}
        self.STRIPE_PRODUCTS_FILE = env.get("STRIPE_PRODUCTS_FILE", str(ROOT / "config" / "stripe_products.json"))
        self.SCHEDULER_ENABLED = _flag("SCHEDULER_ENABLED", "1")
        # The entitlement gate and metering; off only to benchmark the routes without it (bench/).
        self.GATE_ENABLED = _flag("GATE_ENABLED", "1")


class TestConfig(Config):
    """Isolated settings for tests: a given database, no log file, no scheduler."""

    __test__ = False  # not a pytest test class
    TESTING = True
    LOG_FILE = None
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
        for key, value in overrides.items():
            setattr(self, key, value)


def config_from_env() -> Config:
    """Build the Config for a real run (`wsgi.py`, the `flask` CLI)."""
    return Config()
