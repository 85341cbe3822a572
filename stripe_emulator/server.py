"""Run the emulator in a background thread: EmulatorServer(port=0).start() ... .stop()."""
from __future__ import annotations

import logging
import socket
import sys
import threading
from typing import Any, Iterable

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

from .app import create_app
from .billing.clock_runner import RealTimeTicker
from .config import EmulatorConfig
from .core import Emulator

log = logging.getLogger(__name__)


IDLE_SECONDS = 30.0  # a kept-alive connection nobody uses is closed (and its thread ends) after this


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's request handler, but answering further requests on the same connection, as Stripe does.

    werkzeug closes every connection after one answer, because it cannot tell where an unread request
    body ends; a client (stripe-python keeps one session per thread) then pays a new TCP connection and
    a new server thread per API call. Here the body is bounded by its Content-Length and whatever the
    app left unread is discarded before the next request; the answer is buffered and sent with its
    Content-Length. A chunked request body or `Connection: close` (and HTTP/1.0) still close it.
    """

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    disable_nagle_algorithm = True  # headers and body go out as two writes: no delayed-ACK wait between them

    def setup(self) -> None:
        super().setup()
        self.server.open_connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.open_connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """werkzeug builds the access-log line (path decoded, colours) before its logger decides whether
        to write it: skip that when the "werkzeug" logger is set to drop INFO (e.g. the bench's WARNING).
        An unset level is left to werkzeug, which then sets INFO itself."""
        access = logging.getLogger("werkzeug")
        if access.level == logging.NOTSET or access.isEnabledFor(logging.INFO):
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (the standard library's signature)
        """An idle kept-alive connection closing is how keep-alive ends, not an error worth a line."""
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length", "0").strip()
        if "Transfer-Encoding" in self.headers or not length.isdigit():
            self.close_connection = True
            super().run_wsgi()  # werkzeug's own path, which closes the connection afterwards
            return
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body = LimitedStream(self.rfile, int(length))
        environ["wsgi.input"] = body
        try:
            status, headers, content = _run_app(self.server.app, environ)
        except Exception:  # the app raised instead of answering: a 500, as werkzeug does
            self.server.log("error", "Error on request", exc_info=sys.exc_info())  # type: ignore[attr-defined]
            status, headers, content = _run_app(InternalServerError(), environ)
        body.exhaust()  # the next request starts right after this one's body
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        names = set()
        for key, value in headers:
            self.send_header(key, value)
            names.add(key.lower())
        if "content-length" not in names and not (int(code) < 200 or int(code) in (204, 304)):
            self.send_header("Content-Length", str(len(content)))
        if self.close_connection:  # the client asked (Connection: close, or HTTP/1.0): say so, then close
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)
        self.wfile.flush()


def _run_app(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call a WSGI app and collect its whole answer."""
    started: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[0], started[1], b"".join(chunks)


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
        self._server = make_server(self.host, self.port, create_app(self.emulator), threaded=True,
                                   request_handler=KeepAliveHandler)
        self._server.open_connections = set()  # type: ignore[attr-defined]
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
            for conn in list(self._server.open_connections):  # type: ignore[attr-defined]
                try:  # kept-alive connections end with the server, not IDLE_SECONDS later
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
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
