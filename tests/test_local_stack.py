"""The local stack an operator can trust: `make run` from two checkouts, commands from an empty environment.

Two checkouts of this working tree (copies, as two clones would be) each run `make run` for real — the
Makefile, scripts/run_dev.py, gunicorn and the Stripe emulator — configured only through their `.env`
(and `make run PORT=…` for the second), with the same configured emulator port. Checkout A links the
shared virtualenv (as worktrees here do); checkout B has a real `.venv` directory, so the scripts'
re-exec is tested on both. The two stacks are started once for this module and shared by its tests.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.xdist_group("local_stack")  # one worker runs them all, so the stacks are shared
EMPTY_ENV = {"PATH": "/usr/bin:/bin"}  # cron's environment: nothing exported
START_TIMEOUT = 90.0
SKIP_PREFIXES = (".venv", "docs/screenshots/", "instance/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_env(checkout: Path) -> dict[str, str]:
    """An operator's shell with the virtualenv activated and nothing else set."""
    return {"PATH": f"{checkout / '.venv' / 'bin'}:/usr/bin:/bin"}


def copy_checkout(dest: Path) -> Path:
    """This working tree's tracked and new files (what a clone of it would hold), without local state."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for rel in listed:
        src = ROOT / rel
        if not rel or rel.startswith(SKIP_PREFIXES) or not src.is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    old = 946684800  # 2000-01-01: older than the venv's install stamp, so make does not reinstall
    os.utime(dest / "requirements.txt", (old, old))
    return dest


def shared_venv() -> Path:
    return Path(sys.prefix).resolve()


def install_stamp() -> str:
    return ".installed-" + hashlib.sha1((ROOT / "requirements.txt").read_bytes()).hexdigest()[:12]


def make_real_venv(checkout: Path) -> None:
    """A real .venv directory whose packages are the shared venv's (a .pth), with the flask command."""
    venv = checkout / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "aibk_shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    flask = venv / "bin" / "flask"
    flask.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom flask.cli import main\nsys.exit(main())\n")
    flask.chmod(0o755)
    (venv / install_stamp()).touch()


class Stack:
    """One `make run`, in its own session so that stopping it stops gunicorn and the emulator too."""

    def __init__(self, checkout: Path, port: int, args: tuple[str, ...] = ()) -> None:
        self.checkout, self.port = checkout, port
        self.lines: list[str] = []
        self.proc = subprocess.Popen(["make", "run", *args], cwd=checkout, env=EMPTY_ENV, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"make run exited with {self.proc.returncode}:\n{self.output()}")
            if self.settings() and get_status(f"{self.url}/healthz") == 200:
                return
            time.sleep(0.2)
        pytest.fail(f"make run did not serve {self.url} within {START_TIMEOUT} s:\n{self.output()}")

    def settings(self) -> dict[str, object]:
        try:
            return dict(json.loads((self.checkout / "instance" / "local_stack.json").read_text()))
        except (OSError, ValueError):
            return {}

    def session_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
        return [int(pid) for pid, sid in (line.split() for line in out.splitlines()) if int(sid) == self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        for pid in self.session_pids():  # make has exited; anything left of its session goes too
            os.kill(pid, signal.SIGKILL)

    def run(self, *cmd: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """A command in this checkout, as an operator types it in a second terminal."""
        return subprocess.run(list(cmd), cwd=self.checkout, env=env or venv_env(self.checkout), text=True,
                              capture_output=True, timeout=timeout)

    def events_stored(self) -> set[str]:
        with sqlite3.connect(self.checkout / "instance" / "ai_bookkeeper_demo.db") as conn:
            return {row[0] for row in conn.execute("SELECT event_id FROM billing_events")}


def get_status(url: str) -> int | None:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def get_json(url: str, token: str | None = None) -> dict[str, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as resp:
        return dict(json.loads(resp.read()))


@pytest.fixture(scope="module")
def emulator_port() -> int:
    """The STRIPE_EMULATOR_PORT both checkouts' .env configure."""
    return free_port()


@pytest.fixture(scope="module")
def stack_a(tmp_path_factory: pytest.TempPathFactory, emulator_port: int) -> Iterator[Stack]:
    """Checkout A, ports from .env only, the shared venv linked as .venv."""
    checkout = copy_checkout(tmp_path_factory.mktemp("checkout_a"))
    (checkout / ".venv").symlink_to(shared_venv())
    port = free_port()
    (checkout / ".env").write_text(f"PORT={port}\nSTRIPE_EMULATOR_PORT={emulator_port}\nSCHEDULER_ENABLED=0\n")
    stack = Stack(checkout, port)
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def stack_b(tmp_path_factory: pytest.TempPathFactory, emulator_port: int, stack_a: Stack) -> Iterator[Stack]:
    """Checkout B, a real .venv directory, the same emulator port, and `make run PORT=…` over .env's PORT."""
    checkout = copy_checkout(tmp_path_factory.mktemp("checkout_b"))
    make_real_venv(checkout)
    port, dotenv_port = free_port(), free_port()
    (checkout / ".env").write_text(f"PORT={dotenv_port}\nSTRIPE_EMULATOR_PORT={emulator_port}\nSCHEDULER_ENABLED=0\n")
    stack = Stack(checkout, port, (f"PORT={port}",))
    stack.dotenv_port = dotenv_port  # type: ignore[attr-defined]
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()


def seed(stack: Stack, scenario: str) -> dict[str, str]:
    """Run `flask demo seed --scenario …` from an empty environment; its printed blocks by scenario."""
    result = stack.run("flask", "demo", "seed", "--scenario", scenario)
    assert result.returncode == 0, result.stderr
    blocks = {}
    for block in result.stdout.split("== ")[1:]:
        blocks[block.split(":", 1)[0]] = block
    return blocks


def shell_part(block: str) -> str:
    """The commands of a printed scenario: from `export TOKEN=` on."""
    return block[block.index("export TOKEN="):]


def statuses(output: str) -> list[str]:
    return [line.rsplit(" HTTP ", 1)[1] for line in output.splitlines() if " HTTP " in line]


def test_make_run_takes_both_ports_from_dotenv_and_owns_the_emulator_there(stack_a, emulator_port):
    settings = stack_a.settings()
    assert settings["APP_URL"] == f"http://localhost:{stack_a.port}"
    assert settings["STRIPE_API_BASE"] == f"http://127.0.0.1:{emulator_port}"
    health = get_json(f"http://127.0.0.1:{emulator_port}/_emulator/health")
    assert health["webhook_url"] == f"http://127.0.0.1:{stack_a.port}/api/billing/webhook"
    assert health["instance_id"] and "taken" not in stack_a.output()
    mode = stat.S_IMODE((stack_a.checkout / "instance" / "local_stack.json").stat().st_mode)
    assert mode == 0o600  # it holds the webhook secret


def test_make_run_port_on_the_command_line_wins_over_dotenv(stack_b):
    assert get_status(f"{stack_b.url}/healthz") == 200
    assert get_status(f"http://127.0.0.1:{stack_b.dotenv_port}/healthz") is None
    assert stack_b.settings()["APP_URL"] == f"http://localhost:{stack_b.port}"


def test_two_stacks_on_one_emulator_port_each_get_their_own_emulator_and_only_their_own_webhooks(
        stack_a, stack_b, emulator_port):
    a_base, b_base = stack_a.settings()["STRIPE_API_BASE"], stack_b.settings()["STRIPE_API_BASE"]
    assert a_base == f"http://127.0.0.1:{emulator_port}" and b_base != a_base
    assert f"127.0.0.1:{emulator_port} is taken by another stack's Stripe emulator" in stack_b.output()
    assert get_json(f"{b_base}/_emulator/health")["webhook_url"] == f"{stack_b.url}/api/billing/webhook"
    sent = {}
    for stack in (stack_a, stack_b):
        result = stack.run("python", "-m", "stripe_emulator", "trigger", "customer.created")
        assert result.returncode == 0, result.stderr
        sent[stack] = {line.split()[0] for line in result.stdout.splitlines()}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(sent[s] <= s.events_stored() for s in sent):
        time.sleep(0.1)
    assert sent[stack_a] <= stack_a.events_stored() and not sent[stack_a] & stack_b.events_stored()
    assert sent[stack_b] <= stack_b.events_stored() and not sent[stack_b] & stack_a.events_stored()


def test_runbook_commands_reach_the_running_stack_from_an_empty_environment(stack_a):
    block = seed(stack_a, "failed-payment")["failed-payment"]
    tenant = re.search(r"Tenant (tenant_\w+)", block).group(1)  # type: ignore[union-attr]
    token = re.search(r"export TOKEN=(\S+)", block).group(1)  # type: ignore[union-attr]
    assert get_json(f"{stack_a.url}/api/billing/status", token)["subscription_status"] == "trialing"
    sub_id = _subscription_of(stack_a, tenant)
    trigger = stack_a.run("python", "-m", "stripe_emulator", "trigger", "invoice.payment_failed",
                          "--subscription", sub_id)
    assert trigger.returncode == 0 and "invoice.payment_failed" in trigger.stdout, trigger.stderr
    event_id = next(line.split()[0] for line in trigger.stdout.splitlines() if "invoice.payment_failed" in line)
    assert wait_for_status(stack_a, token, "past_due") == "past_due"  # its webhooks reached this app
    reconcile = stack_a.run("flask", "billing", "reconcile", "--dry-run")
    assert reconcile.returncode == 0 and f"{sub_id} tenant={tenant} in sync" in reconcile.stdout, reconcile.stderr
    assert "scheduler.started" not in reconcile.stderr  # `flask` without FLASK_APP loads the factory (.flaskenv)
    replay = stack_a.run("flask", "billing", "replay", event_id)
    assert replay.returncode == 0 and event_id in replay.stdout, replay.stderr
    rollover = stack_a.run("flask", "usage", "rollover")
    assert rollover.returncode == 0 and "Monthly usage rollover" in rollover.stdout, rollover.stderr
    reactivate = stack_a.run("python3", "scripts/admin_reactivate_subscription.py", tenant, env=EMPTY_ENV)
    assert reactivate.returncode == 0 and f"✓ Reactivated subscription for {tenant}" in reactivate.stdout
    # `flask` finding wsgi.py by itself (FLASK_APP=wsgi) must not start the scheduler inside the command
    via_wsgi = stack_a.run("flask", "usage", "rollover", env={**venv_env(stack_a.checkout), "FLASK_APP": "wsgi",
                                                              "SCHEDULER_ENABLED": "1"})
    assert via_wsgi.returncode == 0 and "scheduler.started" not in via_wsgi.stderr


def wait_for_status(stack: Stack, token: str, wanted: str, timeout: float = 15) -> object:
    """The tenant's subscription_status once it is `wanted` (webhooks are asynchronous), or at the timeout."""
    deadline = time.monotonic() + timeout
    status = get_json(f"{stack.url}/api/billing/status", token)["subscription_status"]
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        status = get_json(f"{stack.url}/api/billing/status", token)["subscription_status"]
    return status


def _subscription_of(stack: Stack, tenant: str) -> str:
    with sqlite3.connect(stack.checkout / "instance" / "ai_bookkeeper_demo.db") as conn:
        return str(conn.execute("SELECT stripe_subscription_id FROM entitlements WHERE tenant_id = ?",
                                (tenant,)).fetchone()[0])


def test_demo_seed_loops_give_300_commits_then_402_and_50_proposals_then_429(stack_a):
    blocks = seed(stack_a, "monthly-cap") | seed(stack_a, "free-cap")
    commits = stack_a.run("bash", "-c", shell_part(blocks["monthly-cap"]), timeout=110)
    assert statuses(commits.stdout) == ["200"] * 300 + ["402"], commits.stderr
    assert re.search(r'"code":\s*"MONTHLY_CAP_EXCEEDED"', commits.stdout.rsplit(" HTTP 200", 1)[1])
    proposals = stack_a.run("bash", "-c", shell_part(blocks["free-cap"]), timeout=60)
    assert statuses(proposals.stdout) == ["200"] * 50 + ["429"], proposals.stderr
    assert re.search(r'"code":\s*"FREE_CAP_EXCEEDED"', proposals.stdout.rsplit(" HTTP 200", 1)[1])


def test_demo_seed_failed_payment_prints_the_one_command_that_makes_the_payment_fail(stack_a):
    block = seed(stack_a, "failed-payment")["failed-payment"]
    token = re.search(r"export TOKEN=(\S+)", block).group(1)  # type: ignore[union-attr]
    command = next(line for line in block.splitlines() if line.startswith("python -m stripe_emulator advance"))
    result = stack_a.run("bash", "-c", command)
    assert result.returncode == 0, result.stderr
    assert wait_for_status(stack_a, token, "past_due") == "past_due"
    assert get_json(f"{stack_a.url}/api/billing/status", token)["effective_plan"] == "free"


def test_no_secret_of_either_stack_appears_in_ps(stack_a, stack_b):
    listing = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True, check=True).stdout
    for stack in (stack_a, stack_b):
        assert len(stack.session_pids()) >= 4  # make, run_dev, the emulator, gunicorn and its workers
        for name in ("emulator_webhook_secret", "secret_key"):
            secret = (stack.checkout / "instance" / name).read_text().strip()
            assert len(secret) > 20 and secret not in listing, name


def test_console_shows_one_line_per_webhook_delivery_and_the_access_log_goes_to_its_file(stack_a):
    deliveries = [line for line in stack_a.lines if "webhook.attempt" in line]
    assert deliveries and all("status=" in line for line in deliveries)
    assert not any(re.search(r'"(GET|POST) /v1/', line) for line in stack_a.lines)
    assert re.search(r'"(GET|POST) /v1/', (stack_a.checkout / "logs" / "stripe_emulator.log").read_text())


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no /usr/bin/python3 for cron's PATH here")
def test_the_runbooks_crontab_line_runs_under_crons_environment(stack_b):
    runbook = (ROOT / "docs" / "RUNBOOK.md").read_text()
    line = re.search(r"^\s*0 0 1 \* \* (cd /path/to/ai-bookkeeper && .+)$", runbook, re.M).group(1)  # type: ignore[union-attr]
    command = line.replace("/path/to/ai-bookkeeper", str(stack_b.checkout))
    result = subprocess.run(["/bin/sh", "-c", command], env=EMPTY_ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (result.stdout, result.stderr)
    log = (stack_b.checkout / "logs" / "rollover.log").read_text()
    assert "Monthly usage rollover" in log and "Traceback" not in log
