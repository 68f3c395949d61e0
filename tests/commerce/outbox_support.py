"""Receivers for outbox tests: an e-mail backend that records every message by Message-ID (across
processes, in a file), and a local HTTP endpoint that verifies and records partner webhooks."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend

from commerce.services.webhooks import SIGNATURE_HEADER, webhook_signature_verify


class RecordingEmailBackend(BaseEmailBackend):
    """Appends one JSON line per message to $OUTBOX_TEST_MAIL_LOG (an SMTP server stand-in).

    "Network" time is spent before ($OUTBOX_TEST_MAIL_DELAY_BEFORE seconds) and after
    ($OUTBOX_TEST_MAIL_DELAY_AFTER) the server accepts the message, as SMTP's DATA and QUIT do: a
    worker killed mid-send either loses the message before the server took it, or after (the re-send
    is then a duplicate that the receiver drops by Message-ID).
    """

    def send_messages(self, email_messages):
        path = os.environ["OUTBOX_TEST_MAIL_LOG"]
        before = float(os.environ.get("OUTBOX_TEST_MAIL_DELAY_BEFORE", "0"))
        after = float(os.environ.get("OUTBOX_TEST_MAIL_DELAY_AFTER", "0"))
        for message in email_messages:
            time.sleep(before)
            record = {
                "message_id": message.extra_headers.get("Message-ID", ""),
                "outbox_id": message.extra_headers.get("X-Micromoments-Outbox-Id", ""),
                "to": message.to,
                "subject": message.subject,
                "pid": os.getpid(),
            }
            with open(path, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                fh.write(json.dumps(record) + "\n")
                fh.flush()
                fcntl.flock(fh, fcntl.LOCK_UN)
            time.sleep(after)
        return len(email_messages)


def mail_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class WebhookReceiver:
    """A partner's endpoint on loopback: verifies the signature, records each raw delivery, dedupes by event id.

    `hang_first` = {event_type: seconds}: the first delivery of each such event sleeps that long before
    answering (to outlast the worker's task timeout); `hang_always` sleeps on every delivery;
    `fail_first` answers the first N deliveries with HTTP 500.
    """

    def __init__(self, secret: str, *, hang_first: dict | None = None, hang_always: float = 0, fail_first: int = 0):
        self.secret = secret
        self.hang_first = dict(hang_first or {})
        self.hang_always = hang_always
        self.fail_first = fail_first
        self.raw: list[dict] = []
        self.bad_signatures = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def unique(self) -> dict[str, dict]:
        """Receiver-side dedupe: the first delivery of each event id."""
        seen: dict[str, dict] = {}
        with self._lock:
            for item in self.raw:
                seen.setdefault(item["id"], item)
        return seen

    def counts(self) -> Counter:
        with self._lock:
            return Counter(item["id"] for item in self.raw)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not webhook_signature_verify(
                    secret=receiver.secret, body=body, header=self.headers.get(SIGNATURE_HEADER, "")
                ):
                    with receiver._lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                event = json.loads(body)
                with receiver._lock:
                    first_of_type = event["type"] in receiver.hang_first
                    hang = receiver.hang_first.pop(event["type"], 0) if first_of_type else 0
                    hang = hang or receiver.hang_always
                    fail = receiver.fail_first > 0
                    receiver.fail_first -= 1 if fail else 0
                    receiver.raw.append(
                        {
                            "id": event["id"],
                            "type": event["type"],
                            "header_id": self.headers.get("Micromoments-Event-Id"),
                            "event": event,
                        }
                    )
                if hang:
                    time.sleep(hang)
                try:
                    self.send_response(500 if fail else 204)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up (its worker was killed or timed out)

            def log_message(self, *args):
                pass

        return Handler
