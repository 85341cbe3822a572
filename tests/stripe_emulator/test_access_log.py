"""The in-process emulator's access log: werkzeug's one line per request, on the "werkzeug" logger's level."""
from __future__ import annotations

import logging

from test_keep_alive import call, connect


def access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "werkzeug" and "/v1/customers" in r.getMessage()]


def test_each_request_gets_an_access_log_line_when_werkzeug_logs_info(server, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    conn = connect(server)
    call(conn, "GET", "/v1/customers")
    call(conn, "GET", "/v1/customers?limit=1")
    conn.close()
    lines = access_lines(caplog)
    assert len(lines) == 2 and '"GET /v1/customers HTTP/1.1" 200' in lines[0]


def test_no_access_log_line_when_the_werkzeug_logger_is_set_above_info(server, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="werkzeug")
    conn = connect(server)
    call(conn, "GET", "/v1/customers")
    conn.close()
    assert access_lines(caplog) == []
