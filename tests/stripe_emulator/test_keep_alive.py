"""Connections are kept alive, as on Stripe: a client's next call reuses its connection (HTTP/1.1)."""
from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

from stripe_emulator import EmulatorServer

AUTH = {"Authorization": "Bearer sk_test_x"}


def connect(server: EmulatorServer) -> http.client.HTTPConnection:
    """One raw connection to the emulator (http.client raises if it has to reconnect silently)."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.auto_open = 0  # a closed connection is an error here, never a silent reconnect
    conn.connect()
    return conn


def call(conn: http.client.HTTPConnection, method: str, path: str, body: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict, http.client.HTTPResponse]:
    all_headers = {**AUTH, **(headers or {})}
    if body is not None:
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=all_headers)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read()), resp


def test_two_api_calls_are_answered_on_one_connection(server):
    conn = connect(server)
    status, created, first = call(conn, "POST", "/v1/customers", "email=keep%40example.com")
    assert status == 200 and first.getheader("Connection") is None and first.getheader("Content-Length")
    status, again, _ = call(conn, "GET", f"/v1/customers/{created['id']}")
    assert status == 200 and again["email"] == "keep@example.com"
    conn.close()


def test_a_body_the_api_never_read_does_not_become_the_next_request(server):
    conn = connect(server)
    status, body, _ = call(conn, "POST", "/v1/customers", "email=x%40example.com&" + "a" * 5000,
                           headers={"Authorization": ""})  # refused before the body is parsed
    assert status == 401 and body["error"]["type"] == "invalid_request_error"
    status, listed, _ = call(conn, "GET", "/v1/customers")
    assert status == 200 and listed["data"] == []
    conn.close()


def test_a_client_asking_to_close_gets_its_connection_closed(server):
    conn = connect(server)
    status, _, resp = call(conn, "GET", "/v1/customers", headers={"Connection": "close"})
    assert status == 200 and resp.will_close
    conn.close()


def test_stopping_the_server_ends_its_kept_alive_connections():
    with EmulatorServer(port=0) as server:
        conn = connect(server)
        assert call(conn, "GET", "/v1/customers")[0] == 200
        sock = conn.sock
    sock.settimeout(5)
    try:
        assert sock.recv(1) == b""  # the server hung up (not left to IDLE_SECONDS)
    except ConnectionResetError:
        pass
    conn.close()


def test_a_chunked_request_body_is_read_whole_and_the_connection_closed(server):
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        body = b"email=chunk%40example.com"
        sock.sendall(b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, _ = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
    assert b"chunk@example.com" in answer


def test_an_idle_connection_is_closed_quietly_after_the_idle_time(monkeypatch, caplog):
    from stripe_emulator import server as server_module

    monkeypatch.setattr(server_module.KeepAliveHandler, "timeout", 0.2)
    with EmulatorServer(port=0) as server:
        conn = connect(server)
        status, _, _ = call(conn, "GET", "/v1/customers")
        assert status == 200
        conn.sock.settimeout(5)
        assert conn.sock.recv(1) == b""  # the server closed it once idle (recv returns at once, no sleep)
        conn.close()
    assert not [r for r in caplog.records if "timed out" in r.getMessage()]
