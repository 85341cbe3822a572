"""`make run`: serve the app on :8000; with no STRIPE_SECRET_KEY, start the local Stripe emulator first.

With the emulator: it listens on 127.0.0.1:12111 with its state in instance/stripe_emulator.db, delivers
signed webhooks to this app, and the plan catalog is bootstrapped into it, so sign-up → Checkout →
paid plan works offline. With a real key, nothing is started besides the app.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
EMULATOR_PORT = int(os.environ.get("STRIPE_EMULATOR_PORT", "12111"))
EMULATOR_KEY = "sk_test_local_emulator"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def emulator_secret() -> str:
    """The webhook signing secret shared by the emulator and the app, kept in instance/."""
    INSTANCE.mkdir(exist_ok=True)
    path = INSTANCE / "emulator_webhook_secret"
    if not path.exists():
        path.write_text("whsec_" + secrets.token_hex(24))
    return path.read_text().strip()


def start_emulator(app_port: int) -> subprocess.Popen[bytes] | None:
    """Start the emulator (unless one already answers on its port) and wire its webhooks to the app."""
    if port_open(EMULATOR_PORT):
        print(f"run: reusing the Stripe emulator already on 127.0.0.1:{EMULATOR_PORT}", flush=True)
        return None
    cmd = [sys.executable, "-m", "stripe_emulator", "--port", str(EMULATOR_PORT),
           "--db", str(INSTANCE / "stripe_emulator.db"),
           "--webhook-url", f"http://127.0.0.1:{app_port}/api/billing/webhook",
           "--webhook-secret", os.environ["STRIPE_WEBHOOK_SECRET"], "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    for _ in range(100):
        if port_open(EMULATOR_PORT):
            print(f"run: Stripe emulator on http://127.0.0.1:{EMULATOR_PORT} (events: /events)", flush=True)
            return proc
        if proc.poll() is not None:
            sys.exit(f"run: the Stripe emulator exited with {proc.returncode}")
        time.sleep(0.1)
    proc.terminate()
    sys.exit("run: the Stripe emulator did not start")


def choose_rate_limit_storage(host: str = "127.0.0.1", port: int = 6379) -> str | None:
    """REDIS_URL as set; else the Redis on host:port when it answers a PING; else None (in memory, warned once).

    In memory, each gunicorn worker counts on its own, so the limit is only as good as one worker's share.
    """
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    import redis

    url = f"redis://{host}:{port}/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
    except redis.RedisError:
        print(f"run: WARNING: REDIS_URL is unset and no Redis answers on {host}:{port}: rate limits are counted "
              "in memory, per worker process (set REDIS_URL to share them)", file=sys.stderr, flush=True)
        return None
    os.environ["REDIS_URL"] = url
    print(f"run: rate limits shared through the Redis on {host}:{port}", flush=True)
    return url


def bootstrap_catalog() -> None:
    """Create (or find) the plans' products and prices in Stripe (the emulator here)."""
    sys.path.insert(0, str(ROOT))
    from webapp import create_app
    from webapp.billing import bootstrap

    app = create_app()
    with app.app_context():
        result = bootstrap.bootstrap()
        bootstrap.save(result, "test", Path(app.config["STRIPE_PRODUCTS_FILE"]))
    print("run: plan catalog ready: " + ", ".join(f"{k}={v['price_id']}" for k, v in result.items()), flush=True)


def main() -> int:
    """Start what is needed, then gunicorn; stop everything on Ctrl-C."""
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env")
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
    emulator = None
    if not os.environ.get("STRIPE_SECRET_KEY"):
        os.environ.update({"STRIPE_SECRET_KEY": EMULATOR_KEY,
                           "STRIPE_API_BASE": f"http://127.0.0.1:{EMULATOR_PORT}",
                           "STRIPE_WEBHOOK_SECRET": emulator_secret(),
                           "STRIPE_PRODUCTS_FILE": str(INSTANCE / "stripe_products.emulator.json")})
        emulator = start_emulator(port)
        bootstrap_catalog()
    choose_rate_limit_storage()
    # gunicorn is not in debug: Checkout's and the Portal's return links come from configuration.
    if not os.environ.get("BILLING_RETURN_URL"):
        os.environ["BILLING_RETURN_URL"] = f"http://localhost:{port}/billing"
    print(f"run: AI Bookkeeper on http://localhost:{port}", flush=True)
    timeout = os.environ.get("REQUEST_TIMEOUT_SECONDS") or "60"  # the app's webhook claims expire after it too
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", "2",
                               "--threads", "4", "--timeout", timeout, "wsgi:app"], cwd=ROOT)

    def stop(*_: object) -> None:
        for proc in (server, emulator):
            if proc is not None and proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return server.wait()
    finally:
        stop()
        if emulator is not None:
            emulator.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
