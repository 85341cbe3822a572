"""Run the emulator in a background thread: EmulatorServer(port=0).start() ... .stop()."""
from __future__ import annotations

import logging
import threading
from typing import Any, Iterable

from werkzeug.serving import BaseWSGIServer, make_server

from .app import create_app
from .billing.clock_runner import RealTimeTicker
from .config import EmulatorConfig
from .core import Emulator

log = logging.getLogger(__name__)


class EmulatorServer:
    """A local Stripe on 127.0.0.1, served by a threaded werkzeug server in a background thread."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", db_path: str | None = None,
                 webhook_url: str | None = None, webhook_secret: str | None = None,
                 webhook_retry_schedule: Iterable[float] = (5.0, 30.0, 120.0),
                 payment_retry_days: Iterable[float] = (3.0, 5.0, 7.0),
                 on_final_failure: str = "unpaid", public_url: str | None = None,
                 webhook_timeout: float = 10.0, tick_interval: float = 1.0,
                 instance_id: str | None = None) -> None:
        self.host, self.port = host, port
        self.config = EmulatorConfig(
            db_path=db_path, webhook_url=webhook_url, webhook_secret=webhook_secret,
            webhook_retry_schedule=tuple(webhook_retry_schedule),
            payment_retry_days=tuple(payment_retry_days), on_final_failure=on_final_failure,
            public_url=public_url, webhook_timeout=webhook_timeout, tick_interval=tick_interval,
            instance_id=instance_id)
        self.emulator: Emulator | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ticker: RealTimeTicker | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. http://127.0.0.1:54321."""
        if self._server is None:
            raise RuntimeError("EmulatorServer is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> "EmulatorServer":
        """Bind, then serve in a daemon thread; returns self."""
        self.emulator = Emulator(self.config)
        self._server = make_server(self.host, self.port, create_app(self.emulator), threaded=True)
        self.emulator.start()
        self._ticker = RealTimeTicker(self.emulator)
        self._ticker.start()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="stripe-emulator-http", daemon=True)
        self._thread.start()
        log.info("emulator.started", extra={"url": self.url})
        return self

    def serve_forever(self) -> None:
        """Start (unless started) and block until interrupted (what the CLI does)."""
        if self._server is None:
            self.start()
        try:
            assert self._thread is not None
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Block until every queued delivery (and retry due within `timeout`) is done."""
        if self.emulator is None:
            return True
        return self.emulator.webhooks.wait_idle(timeout)

    def stop(self) -> None:
        """Stop serving, stop background work, close the database."""
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.emulator is not None:
            self.emulator.close()
            self.emulator = None

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
