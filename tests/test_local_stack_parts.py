"""The parts of the local stack, without a whole `make run`: the emulator port choice, the settings file,
the scripts' interpreter check and the emulator's command line."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import webapp.config
from stripe_emulator import EmulatorServer
from stripe_emulator import cli as emulator_cli
from webapp.config import Config, TestConfig

ROOT = Path(__file__).resolve().parent.parent


def load_run_dev() -> ModuleType:
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("run_dev_under_test", ROOT / "scripts" / "run_dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_run_dev()
    monkeypatch.setattr(module, "INSTANCE_DIR", tmp_path / "instance")
    monkeypatch.setattr(module, "LOGS", tmp_path / "logs")
    return module


@pytest.fixture
def plain_listener() -> Iterator[int]:
    """A port held by a program that is not a Stripe emulator (it accepts and says nothing useful)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    sock.close()


def test_a_port_held_by_another_program_gets_the_stack_its_own_emulator_on_a_free_port(
        run_dev, plain_listener, monkeypatch, capsys):
    monkeypatch.setenv("STRIPE_EMULATOR_PORT", str(plain_listener))
    emulator = run_dev.start_emulator(app_port=1, secret="whsec_parts_test")
    try:
        assert emulator.url != f"http://127.0.0.1:{plain_listener}"
        health = run_dev.emulator_health(emulator.url)
        assert health is not None and health["webhook_url"] == "http://127.0.0.1:1/api/billing/webhook"
        said = capsys.readouterr().out
        assert f"127.0.0.1:{plain_listener} is taken by a program that is not a Stripe emulator" in said
    finally:
        emulator.proc.terminate()
        emulator.proc.wait(timeout=10)


def test_an_emulator_started_by_hand_on_the_port_is_not_used(run_dev):
    with EmulatorServer(port=0) as foreign:
        port = int(foreign.url.rsplit(":", 1)[1])
        assert run_dev.describe_occupant(port) == "a Stripe emulator started by hand (not by this stack)"
    assert run_dev.describe_occupant(port) is None


def test_make_run_stops_with_one_line_when_the_apps_port_is_taken(run_dev, plain_listener, monkeypatch):
    monkeypatch.setattr(run_dev, "local_stack", lambda: {})
    with pytest.raises(run_dev.StackError, match=f"port {plain_listener} is taken; choose another"):
        run_dev.check_free("127.0.0.1", plain_listener)


def test_a_bad_port_setting_is_one_clear_line(run_dev, monkeypatch):
    monkeypatch.setattr(run_dev, "ROOT", Path("/nonexistent"))  # no .env to read
    monkeypatch.setenv("PORT", "80a")
    with pytest.raises(run_dev.StackError, match="PORT must be a port number, not '80a'"):
        run_dev.read_settings()


@pytest.fixture
def stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "local_stack.json"
    monkeypatch.setattr(webapp.config, "LOCAL_STACK_FILE", path)
    for name in ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "STRIPE_PRODUCTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return path


def write_stack(path: Path, pid: int) -> None:
    path.write_text(json.dumps({"STRIPE_SECRET_KEY": "sk_test_local_emulator", "STRIPE_API_BASE": "http://127.0.0.1:1",
                                "STRIPE_WEBHOOK_SECRET": "whsec_stack", "STRIPE_PRODUCTS_FILE": "/tmp/p.json",
                                "APP_URL": "http://localhost:1", "PID": pid}))


def test_config_reads_the_running_local_stack_when_the_environment_says_nothing(stack_file):
    write_stack(stack_file, os.getpid())
    config = Config()
    assert (config.STRIPE_SECRET_KEY, config.STRIPE_API_BASE, config.STRIPE_WEBHOOK_SECRET) == (
        "sk_test_local_emulator", "http://127.0.0.1:1", "whsec_stack")
    assert TestConfig(database_url="sqlite://").STRIPE_SECRET_KEY is None  # a test never reaches a developer's stack


def test_the_environments_stripe_key_wins_over_the_local_stack(stack_file, monkeypatch):
    write_stack(stack_file, os.getpid())
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_mine")
    config = Config()
    assert config.STRIPE_SECRET_KEY == "sk_test_mine" and config.STRIPE_API_BASE is None


def test_a_local_stack_file_left_by_a_killed_stack_is_ignored(stack_file):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_stack(stack_file, dead.pid)
    assert Config().STRIPE_SECRET_KEY is None


def test_a_relative_products_file_is_the_checkouts_whatever_the_directory(stack_file, monkeypatch, tmp_path):
    monkeypatch.setenv("STRIPE_PRODUCTS_FILE", "config/stripe_products.json")
    monkeypatch.chdir(tmp_path)
    assert Config().STRIPE_PRODUCTS_FILE == str(ROOT / "config" / "stripe_products.json")


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no /usr/bin/python3 (cron's python3) here")
def test_a_script_without_a_virtualenv_says_exactly_what_to_do(tmp_path):
    (tmp_path / "scripts").mkdir()
    for name in ("_app.py", "roll_usage_month.py"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    result = subprocess.run(["/usr/bin/python3", "scripts/roll_usage_month.py"], cwd=tmp_path, capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin"}, timeout=30)
    if result.returncode == 0:
        pytest.skip("this machine's /usr/bin/python3 has the requirements installed: nothing to say")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"there is no virtualenv at {tmp_path / '.venv'}" in result.stderr
    assert f"Fix: cd {tmp_path} && make venv" in result.stderr


def test_emulator_health_names_the_instance_and_where_its_webhooks_go():
    with EmulatorServer(port=0, webhook_url="http://127.0.0.1:9/hook", webhook_secret="whsec_x",
                        instance_id="stack-123") as server:
        from urllib.request import urlopen

        with urlopen(f"{server.url}/_emulator/health", timeout=5) as resp:
            body = json.loads(resp.read())
    assert body == {"ok": True, "emulator": "stripe_emulator", "instance_id": "stack-123",
                    "webhook_url": "http://127.0.0.1:9/hook"}


def test_emulator_takes_its_webhook_secret_from_the_environment_or_a_file(tmp_path, monkeypatch):
    parser = emulator_cli.serve_parser()
    monkeypatch.setenv(emulator_cli.SECRET_ENV, "whsec_from_env")
    assert emulator_cli._webhook_secret(parser.parse_args([])) == "whsec_from_env"
    (tmp_path / "secret").write_text("whsec_from_file\n")
    assert emulator_cli._webhook_secret(parser.parse_args(["--webhook-secret-file", str(tmp_path / "secret")])) \
        == "whsec_from_file"
    monkeypatch.delenv(emulator_cli.SECRET_ENV)
    assert emulator_cli.main(["--webhook-url", "http://127.0.0.1:9/hook", "--port", "0"]) == 2


def test_emulator_client_commands_default_to_the_local_stack_then_12111(tmp_path, monkeypatch):
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    monkeypatch.setattr(emulator_cli, "LOCAL_STACK_FILE", tmp_path / "local_stack.json")
    assert emulator_cli.client_defaults() == ("http://127.0.0.1:12111", "sk_test_emulator")
    (tmp_path / "local_stack.json").write_text(json.dumps({"STRIPE_API_BASE": "http://127.0.0.1:4242",
                                                           "STRIPE_SECRET_KEY": "sk_test_stack"}))
    assert emulator_cli.client_defaults() == ("http://127.0.0.1:4242", "sk_test_stack")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:5555")
    assert emulator_cli.client_defaults()[0] == "http://127.0.0.1:5555"


def test_emulator_advance_moves_a_test_clock_and_refuses_a_non_positive_step(capsys):
    with EmulatorServer(port=0) as server:
        import stripe

        client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.url})
        clock = client.v1.test_helpers.test_clocks.create({"frozen_time": 1_700_000_000})
        args = ["--api-base", server.url, "--api-key", "sk_test_x"]
        assert emulator_cli.main(["advance", clock.id, "--days", "2", *args]) == 0
        assert f"{clock.id}  advanced to 2023-11-16T22:13:20Z  (ready)" in capsys.readouterr().out
        assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == 1_700_000_000 + 2 * 86400
        assert emulator_cli.main(["advance", clock.id, "--days", "0", *args]) == 1
        assert "--days must be more than 0" in capsys.readouterr().err


def test_emulator_on_a_taken_port_exits_3_with_one_line(plain_listener):
    result = subprocess.run([sys.executable, "-m", "stripe_emulator", "--port", str(plain_listener)], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert f"Port {plain_listener} is in use by another program" in result.stderr
