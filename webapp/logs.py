"""JSON-lines logging to stderr and a rotating logs/app.log (one handler writes both), plus one line per request."""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

from flask import Flask, Response, g, request

from webapp import clock

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SECRET_WORDS = ("password", "token", "secret", "authorization", "signature", "api_key", "cookie")
_OURS = "_aibk_handler"
_FORMATTED = "_aibk_json"  # a leading underscore keeps it out of the line's own fields


# json.dumps(line, default=str) without making a JSONEncoder for every line (encode keeps no state between calls).
_to_json = json.JSONEncoder(default=str).encode

_secret_keys: dict[str, bool] = {}  # field name → redact? (names come from our code: a small, fixed set)


def _is_secret(key: str) -> bool:
    """Whether a field's name says it holds a secret (decided once per name)."""
    secret = _secret_keys.get(key)
    if secret is None:
        secret = _secret_keys[key] = any(w in key.lower() for w in _SECRET_WORDS)
    return secret


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, then the record's extra fields.

    The line is built once per record and kept on it, so stderr and the log file share one encoding.
    """

    def format(self, record: logging.LogRecord) -> str:
        cached: str | None = getattr(record, _FORMATTED, None)
        if cached is None:
            cached = self._encode(record)
            setattr(record, _FORMATTED, cached)
        return cached

    def _encode(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": clock.isoformat(clock.now()),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            line[key] = "[redacted]" if _is_secret(key) else value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _to_json(line)


class LogFile(RotatingFileHandler):
    """The rotating log file, without two stat() calls and a tell() per line.

    The standard handler asks on every line whether its path is a regular file (never rotating anything
    else, such as /dev/null); the answer is the same for the handler's whole life, so it is asked once,
    when the handler is made. The size check and the rotation are the standard handler's.
    """

    def __init__(self, filename: str, **kwargs: object) -> None:
        super().__init__(filename, **kwargs)  # type: ignore[arg-type]
        self._rotates = not (os.path.exists(self.baseFilename) and not os.path.isfile(self.baseFilename))

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 (the standard handler's name)
        return self._would_pass(len(self.format(record)) + len(self.terminator))

    def _would_pass(self, size: int) -> bool:
        """Whether `size` more characters would take the file to maxBytes (never, if it does not rotate)."""
        if not self._rotates:
            return False
        if self.stream is None:
            self.stream = self._open()
        if self.maxBytes > 0:  # the file's end (seek answers it), wherever other processes' lines left it
            return self.stream.seek(0, 2) + size >= self.maxBytes
        return False

    def write_line(self, line: str) -> None:
        """Append one finished line (rotating first, as `emit` would); the caller holds the lock it needs."""
        if self._would_pass(len(line)):
            self.doRollover()
        if self.stream is None:
            self.stream = self._open()
        self.stream.write(line)
        self.stream.flush()


class JsonLines(logging.StreamHandler):  # type: ignore[type-arg]
    """Our one handler: stderr and, when there is one, the rotating log file (`log_file`).

    Each record goes through the filters, the formatter and the lock once, and its line is written to
    both (a handler per destination repeated that work for every line). A failed write is reported like
    any handler's (handleError); a failure on stderr does not keep the line from the file.
    """

    def __init__(self, log_file: LogFile | None = None, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.log_file = log_file

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            try:
                self.stream.write(line)
                self.stream.flush()
            finally:  # the file gets the line even if stderr refused it
                if self.log_file is not None:
                    self.log_file.write_line(line)
        except RecursionError:  # as the standard handlers do
            raise
        except Exception:
            self.handleError(record)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 (the standard handler's name)
        super().setFormatter(fmt)
        if self.log_file is not None:
            self.log_file.setFormatter(fmt)

    def close(self) -> None:
        try:
            if self.log_file is not None:
                self.log_file.close()
        finally:
            super().close()


def configure_logging(app: Flask) -> None:
    """Attach our handler to the `webapp` logger: stderr, and the rotating LOG_FILE unless it is disabled."""
    logger = logging.getLogger("webapp")
    for handler in [h for h in logger.handlers if getattr(h, _OURS, False)]:
        logger.removeHandler(handler)
        handler.close()
    log_file = app.config.get("LOG_FILE")
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    handler = JsonLines(LogFile(log_file, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
                        if log_file else None)
    setattr(handler, _OURS, True)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger.addHandler(handler)
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    logger.propagate = False
    app.before_request(_start_timer)
    app.after_request(_log_request)


_request_log = logging.getLogger("webapp.request")


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def request_seconds() -> float | None:
    """Seconds since this request's first before_request hook (the log line's and the metrics' one timer)."""
    started = g.get("request_started")
    return time.perf_counter() - started if started is not None else None


def _log_request(response: Response) -> Response:
    seconds = request_seconds()
    duration_ms = round(seconds * 1000, 2) if seconds is not None else None
    # The path only: query strings may carry session ids, and no header is ever logged.
    _request_log.info("request", extra={"method": request.method, "path": request.path,
                                        "status": response.status_code, "duration_ms": duration_ms})
    return response


_context: ContextVar[dict[str, object] | None] = ContextVar("log_context", default=None)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add these fields to every log record written inside the block (e.g. a webhook's event id and type)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current log_context fields onto each record that does not set them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True
