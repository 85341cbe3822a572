"""`make run`: serve the app on :8000; with no STRIPE_SECRET_KEY, start the local Stripe emulator first;
with no MAIL_URL, start the local mail sink (billing emails land there, listed at /dev/mail).

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
MAIL_SINK_PORT = int(os.environ.get("MAIL_SINK_PORT", "1025"))


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
    proc = wait_until_listening(subprocess.Popen(cmd, cwd=ROOT), EMULATOR_PORT, "the Stripe emulator")
    print(f"run: Stripe emulator on http://127.0.0.1:{EMULATOR_PORT} (events: /events)", flush=True)
    return proc


def wait_until_listening(proc: subprocess.Popen[bytes], port: int, name: str) -> subprocess.Popen[bytes]:
    """Wait up to 10 s for a started process to accept connections on its port; exit with why if it does not."""
    for _ in range(100):
        if port_open(port):
            return proc
        if proc.poll() is not None:
            sys.exit(f"run: {name} exited with {proc.returncode}")
        time.sleep(0.1)
    proc.terminate()
    sys.exit(f"run: {name} did not start")


def start_mail_sink() -> subprocess.Popen[bytes] | None:
    """Start the local SMTP sink (unless one already answers) and send the app's billing emails to it."""
    directory = INSTANCE / "mail"
    os.environ.update({"MAIL_URL": f"smtp://127.0.0.1:{MAIL_SINK_PORT}", "MAIL_SINK_DIR": str(directory)})
    if port_open(MAIL_SINK_PORT):
        print(f"run: reusing the mail sink already on 127.0.0.1:{MAIL_SINK_PORT}", flush=True)
        return None
    proc = subprocess.Popen([sys.executable, "-m", "webapp.ops.mail_sink", "--port", str(MAIL_SINK_PORT),
                             "--dir", str(directory)], cwd=ROOT)
    return wait_until_listening(proc, MAIL_SINK_PORT, "the mail sink")


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
    sink = None
    if not os.environ.get("MAIL_URL"):
        sink = start_mail_sink()
        print(f"run: billing emails go to the local mail sink: http://localhost:{port}/dev/mail", flush=True)
    print(f"run: AI Bookkeeper on http://localhost:{port}", flush=True)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", "2",
                               "--threads", "4", "--timeout", "60", "wsgi:app"], cwd=ROOT)

    def stop(*_: object) -> None:
        for proc in (server, emulator, sink):
            if proc is not None and proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return server.wait()
    finally:
        stop()
        for proc in (emulator, sink):
            if proc is not None:
                proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
