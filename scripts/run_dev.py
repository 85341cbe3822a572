"""`make run`: serve the app (gunicorn); with no STRIPE_SECRET_KEY, start this stack's own Stripe emulator first.

Settings come from the environment, then `.env` (ports included); `make run PORT=8080` passes PORT in the
environment, so it wins over `.env`.

With the emulator: it listens on STRIPE_EMULATOR_PORT (12111) — or, when something else holds that port
(another checkout's emulator, any other program), on a free port, said in one line — with its state in
instance/stripe_emulator.db. It is recognised by an instance id it answers on /_emulator/health, so an
emulator started by someone else is never used. Its signed webhooks go to this app only, the plan catalog
is bootstrapped into it, and the stack's settings (key, API base, webhook secret, catalog file) are written
to instance/local_stack.json (mode 600) while it runs, for every `flask ...` command, script and
`python -m stripe_emulator ...` started in another terminal. Secrets reach the processes through their
environment, never their command line. The emulator's access log goes to logs/stripe_emulator.log; the
console shows the app's lines and one line per webhook delivery.

With no MAIL_URL it also starts its own local mail sink (`python -m webapp.ops.mail_sink`) on
MAIL_SINK_PORT (1025, or a free port when that one is taken): billing emails land in instance/mail and
/dev/mail lists them.
"""
from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

from _app import ROOT, ensure_project_python

if __name__ == "__main__":  # before the imports below, which need the project's packages
    ensure_project_python()

from webapp.config import INSTANCE_DIR, LOCAL_STACK_FILE, local_stack  # noqa: E402  (after the path)

LOGS = ROOT / "logs"
EMULATOR_KEY = "sk_test_local_emulator"
DEFAULT_EMULATOR_PORT = 12111
SECRET_ENV = "STRIPE_EMULATOR_WEBHOOK_SECRET"  # how the emulator takes its secret (stripe_emulator/cli.py)
LISTENING = "Stripe emulator listening on "
START_TIMEOUT = 15.0
DEFAULT_MAIL_SINK_PORT = 1025


class StackError(Exception):
    """`make run` cannot start: the message is the one line to print."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def emulator_health(url: str) -> dict[str, object] | None:
    """What a Stripe emulator at url answers on /_emulator/health; None when it is not one."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/_emulator/health", timeout=2) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("ok") is True else None


def describe_occupant(port: int) -> str | None:
    """Who holds 127.0.0.1:port, in words; None when the port is free."""
    if not port_open(port):
        return None
    health = emulator_health(f"http://127.0.0.1:{port}")
    if health is None:
        return "a program that is not a Stripe emulator"
    if not health.get("instance_id"):
        return "a Stripe emulator started by hand (not by this stack)"
    return f"another stack's Stripe emulator (webhooks to {health.get('webhook_url') or 'nowhere'})"


def emulator_secret() -> str:
    """The webhook signing secret shared by this checkout's emulator and app, kept in instance/ (mode 600)."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    path = INSTANCE_DIR / "emulator_webhook_secret"
    if not path.exists():
        path.write_text("whsec_" + secrets.token_hex(24))
    path.chmod(0o600)
    return path.read_text().strip()


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
        if not line.startswith(LISTENING):
            sys.stdout.write(line)
            sys.stdout.flush()
    lines.put(None)


class EmulatorProcess:
    """This stack's emulator process, and the URL it really listens on."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url


def launch_emulator(port: int, app_port: int, secret: str, instance_id: str) -> EmulatorProcess | None:
    """Start the emulator on port (0: any free one); None when that port was taken meanwhile."""
    LOGS.mkdir(exist_ok=True)
    INSTANCE_DIR.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "stripe_emulator", "--port", str(port),
           "--db", str(INSTANCE_DIR / "stripe_emulator.db"),
           "--webhook-url", f"http://127.0.0.1:{app_port}/api/billing/webhook",
           "--instance-id", instance_id, "--log-level", "INFO",
           "--access-log", str(LOGS / "stripe_emulator.log")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, SECRET_ENV: secret}, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            proc.terminate()
            raise StackError("run: the Stripe emulator did not start within 15 s") from None
        if line is None:
            code = proc.wait()
            if code == 3 and port:  # the port was taken between our check and its bind
                return None
            raise StackError(f"run: the Stripe emulator exited with {code} (see the lines above)")
        if line.startswith(LISTENING):
            return EmulatorProcess(proc, line[len(LISTENING):].strip())


def start_emulator(app_port: int, secret: str) -> EmulatorProcess:
    """Start this stack's own emulator: on STRIPE_EMULATOR_PORT when free, else on a free port (said once)."""
    preferred = int(os.environ.get("STRIPE_EMULATOR_PORT") or DEFAULT_EMULATOR_PORT)
    instance_id = secrets.token_hex(12)
    occupant = describe_occupant(preferred)
    emulator = None if occupant else launch_emulator(preferred, app_port, secret, instance_id)
    if emulator is None:
        occupant = occupant or "another program"
        emulator = launch_emulator(0, app_port, secret, instance_id)
        assert emulator is not None
        print(f"run: 127.0.0.1:{preferred} is taken by {occupant}; this stack's own Stripe emulator is on "
              f"{emulator.url} instead", flush=True)
    health = emulator_health(emulator.url)
    if health is None or health.get("instance_id") != instance_id:
        emulator.proc.terminate()
        raise StackError(f"run: {emulator.url} does not answer as this stack's emulator; stopping")
    print(f"run: Stripe emulator on {emulator.url} (events: {emulator.url}/events, access log: "
          f"logs/stripe_emulator.log)", flush=True)
    return emulator


def write_local_stack(settings: dict[str, str], app_url: str, emulator_url: str) -> None:
    """Write instance/local_stack.json (mode 600: it holds the webhook secret) for commands in other terminals."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    data = {**settings, "APP_URL": app_url, "STRIPE_EMULATOR_URL": emulator_url, "PID": os.getpid()}
    tmp = LOCAL_STACK_FILE.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    tmp.replace(LOCAL_STACK_FILE)


def remove_local_stack() -> None:
    """Forget the stack's settings, if they are still ours."""
    try:
        if json.loads(LOCAL_STACK_FILE.read_text()).get("PID") == os.getpid():
            LOCAL_STACK_FILE.unlink()
    except (OSError, ValueError):  # gone already, or not JSON: nothing of ours to remove
        return


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
    from webapp import create_app
    from webapp.billing import bootstrap

    app = create_app()
    with app.app_context():
        result = bootstrap.bootstrap()
        bootstrap.save(result, "test", Path(app.config["STRIPE_PRODUCTS_FILE"]))
    print("run: plan catalog ready: " + ", ".join(f"{k}={v['price_id']}" for k, v in result.items()), flush=True)


def read_settings() -> tuple[str, int]:
    """HOST and PORT: the environment (`make run PORT=…`), then .env, then 127.0.0.1:8000."""
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env")  # never overrides the environment
    host = os.environ.get("HOST") or "127.0.0.1"
    raw = os.environ.get("PORT") or "8000"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"run: PORT must be a port number, not {raw!r}")
    return host, int(raw)


def check_free(host: str, port: int) -> None:
    """One clear line instead of gunicorn's retries when the app's port is taken, or this checkout already runs."""
    running = local_stack()
    if running:
        raise StackError(f"run: this checkout already runs a stack (pid {running['PID']}, {running.get('APP_URL')}); "
                         "stop it first")
    if port_open(port, "127.0.0.1" if host in ("0.0.0.0", "") else host):
        raise StackError(f"run: port {port} is taken; choose another: make run PORT={port + 1} (or PORT= in .env)")


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mail_sink(app_port: int) -> subprocess.Popen[bytes]:
    """This stack's own SMTP sink (never another one's), and MAIL_URL / MAIL_SINK_DIR pointing the app at it."""
    raw = os.environ.get("MAIL_SINK_PORT") or str(DEFAULT_MAIL_SINK_PORT)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"run: MAIL_SINK_PORT must be a port number, not {raw!r}")
    sink_port = int(raw) if not port_open(int(raw)) else free_port()
    directory = INSTANCE_DIR / "mail"
    proc = subprocess.Popen([sys.executable, "-m", "webapp.ops.mail_sink", "--port", str(sink_port),
                             "--dir", str(directory)], cwd=ROOT)
    deadline = time.monotonic() + START_TIMEOUT
    while not port_open(sink_port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise StackError(f"run: the mail sink did not start on port {sink_port}")
        time.sleep(0.1)
    os.environ.update({"MAIL_URL": f"smtp://127.0.0.1:{sink_port}", "MAIL_SINK_DIR": str(directory)})
    print(f"run: mail sink on smtp://127.0.0.1:{sink_port} (what it receives: http://localhost:{app_port}/dev/mail)",
          flush=True)
    return proc


def serve(host: str, port: int, emulator: EmulatorProcess | None,
          others: tuple[subprocess.Popen[bytes] | None, ...] = ()) -> int:
    """Run gunicorn until it exits or we are told to stop; stop everything we started."""
    print(f"run: AI Bookkeeper on http://localhost:{port}", flush=True)
    timeout = os.environ.get("REQUEST_TIMEOUT_SECONDS") or "60"  # the app's webhook claims expire after it too
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", "2",
                               "--threads", "4", "--timeout", timeout, "--no-control-socket", "wsgi:app"], cwd=ROOT)
    procs = [p for p in (server, emulator.proc if emulator else None, *others) if p is not None]

    def stop(*_: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return server.wait()
    finally:
        stop()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_local_emulator(port: int) -> EmulatorProcess:
    """This stack's emulator, its settings in our environment (for gunicorn) and in instance/local_stack.json."""
    secret = emulator_secret()
    emulator = start_emulator(port, secret)
    settings = {"STRIPE_SECRET_KEY": EMULATOR_KEY, "STRIPE_API_BASE": emulator.url, "STRIPE_WEBHOOK_SECRET": secret,
                "STRIPE_PRODUCTS_FILE": str(INSTANCE_DIR / "stripe_products.emulator.json")}
    os.environ.update(settings)
    try:
        write_local_stack(settings, f"http://localhost:{port}", emulator.url)
    except OSError:
        emulator.proc.terminate()  # never leave an emulator behind that nothing will stop
        raise
    return emulator


def main() -> int:
    """Start what is needed, then gunicorn; stop everything on Ctrl-C or SIGTERM."""
    emulator: EmulatorProcess | None = None
    sink: subprocess.Popen[bytes] | None = None
    try:
        host, port = read_settings()
        check_free(host, port)
        choose_rate_limit_storage()
        # gunicorn is not in debug: Checkout's and the Portal's return links come from configuration.
        if not os.environ.get("BILLING_RETURN_URL"):
            os.environ["BILLING_RETURN_URL"] = f"http://localhost:{port}/billing"
        if not os.environ.get("MAIL_URL"):
            sink = start_mail_sink(port)
        if not os.environ.get("STRIPE_SECRET_KEY"):
            emulator = start_local_emulator(port)
            bootstrap_catalog()
        return serve(host, port, emulator, (sink,))
    except StackError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 1
    finally:
        if sink is not None and sink.poll() is None:
            sink.terminate()
            sink.wait(timeout=10)
        if emulator is not None:
            if emulator.proc.poll() is None:
                emulator.proc.terminate()
                emulator.proc.wait(timeout=10)
            remove_local_stack()


if __name__ == "__main__":
    sys.exit(main())
