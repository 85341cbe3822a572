"""A local SMTP sink for development and tests: accepts every message and keeps it in a Maildir.

`make run` starts it (`python -m webapp.ops.mail_sink --port 1025 --dir instance/mail`) and points
MAIL_URL at it; /dev/mail lists what it received. Nothing is ever relayed anywhere.
"""
from __future__ import annotations

import argparse
import email
import mailbox
import signal
import threading
from dataclasses import dataclass
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MaildirHandler:
    """aiosmtpd handler: every accepted message goes into the Maildir, as received."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        for sub in ("tmp", "new", "cur"):  # a Maildir: created whole, also inside an existing empty directory
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        """Store the message; the sender is told it was accepted."""
        with self._lock:
            mailbox.Maildir(self.directory).add(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start_sink(directory: str | Path, host: str = "127.0.0.1", port: int = 1025) -> Controller:
    """Start the sink in a background thread; `.stop()` it when done."""
    controller = Controller(MaildirHandler(directory), hostname=host, port=port)
    controller.start()
    return controller


@dataclass(frozen=True)
class ReceivedMail:
    """One message the sink holds."""

    key: str
    sender: str
    to: str
    subject: str
    date: str
    body: str


def _body(msg: Message) -> str:
    part = msg.get_body(preferencelist=("plain",)) if hasattr(msg, "get_body") else msg
    if part is None:
        return ""
    return str(part.get_content()) if hasattr(part, "get_content") else str(part.get_payload())


def received(directory: str | Path, limit: int = 100) -> list[ReceivedMail]:
    """The messages in the sink, newest first."""
    path = Path(directory)
    if not path.exists():
        return []
    box = mailbox.Maildir(path, create=False)
    found = []
    for key in box.keys():
        raw = box.get_bytes(key)
        msg = email.message_from_bytes(raw, policy=default_policy)
        when = (path / "new" / key).stat().st_mtime if (path / "new" / key).exists() else 0.0
        found.append((when, ReceivedMail(key, str(msg["From"] or ""), str(msg["To"] or ""),
                                         str(msg["Subject"] or ""), str(msg["Date"] or ""), _body(msg))))
    found.sort(key=lambda item: (item[0], item[1].date), reverse=True)
    return [mail for _, mail in found[:limit]]


def main() -> int:
    """Run the sink until interrupted."""
    parser = argparse.ArgumentParser(description="Local SMTP sink: keeps every message in a Maildir.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", default="instance/mail")
    args = parser.parse_args()
    controller = start_sink(args.dir, args.host, args.port)
    print(f"mail sink: smtp://{args.host}:{args.port} → {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
