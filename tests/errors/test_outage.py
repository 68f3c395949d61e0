"""A real database outage: the API answers JSON 503 `service_unavailable` with Retry-After, the storefront
and the admin an HTML 503 page with Retry-After; when the database is back, so is the service.

The server is gunicorn running config.wsgi in a subprocess (as in production), its DATABASE_URL
pointing at a closed port (any test database) or at a TCP proxy to the test database that the test
cuts and restores (PostgreSQL).
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing, suppress
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from commerce.models import ApiKey, Partner
from commerce.services.api_keys import api_key_create
from tests.factories import LiveSessionFactory

BASE_DIR = Path(settings.BASE_DIR)


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn serving config.wsgi on loopback with the given DATABASE_URL."""

    def __init__(self, database_url: str):
        self.port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "TESTING": "1",
            "SECRET_KEY": "outage-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
            "SERVICE_UNAVAILABLE_RETRY_AFTER": "17",
            "DB_CONN_MAX_AGE": "60",
            "VAR_DIR": str(BASE_DIR / "var" / "outage-test"),
        }
        env.pop("REDIS_URL", None)
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{self.port}", "-w", "1", "-t", "60"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.process.stderr.read().decode()[-3000:]) from None
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def get(self, path: str, headers: dict | None = None, data: bytes | None = None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {}, data=data)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class TcpProxy:
    """Forwards a loopback port to the database; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = _free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def restore(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self):
        with self.lock:
            for s in [self.listener, *self.sockets]:
                if s is None:
                    continue
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()
            self.listener = None

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a, b):
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select(timeout=1):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                with suppress(OSError):
                    s.close()


def _assert_api_503(status, headers, body):
    import json

    assert status == 503, body[:300]
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Retry-After"] == "17"
    assert json.loads(body)["code"] == "service_unavailable"


def _assert_page_503(status, headers, body):
    assert status == 503, body[:300]
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Retry-After"] == "17"
    assert b"Back in a moment" in body


def test_database_unreachable_answers_503_everywhere():
    """The database's port is closed from the start: every entry point answers 503, none 500."""
    server = Server(f"postgres://postgres@127.0.0.1:{_free_port()}/nowhere")
    try:
        key = {"X-API-Key": "mm_abcdef01_secret"}
        _assert_api_503(*server.get("/api/v1/drops", key))
        _assert_api_503(
            *server.get(
                "/api/v1/holds",
                {**key, "Content-Type": "application/json"},
                data=b'{"drop_id": 1, "email": "a@example.com", "quantity": 1}',
            )
        )
        _assert_page_503(*server.get("/"))
        _assert_page_503(*server.get("/cart/some-token/"))
        _assert_page_503(*server.get("/admin/", {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}))
        # the guard still answers without the database
        status, _, _ = server.get("/cart/a%00b/")
        assert status == 400
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the server process must see committed rows
def test_database_cut_mid_life_is_503_then_recovers():
    """PostgreSQL goes away under a running server (connections dropped) and comes back."""
    partner = Partner.objects.create(name="Outage Co")
    key = {"X-API-Key": api_key_create(partner=partner, name="k", scopes=list(ApiKey.SCOPES))[1]}
    LiveSessionFactory()
    db = connection.settings_dict
    proxy = TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    proxy.restore()
    user = f"{db['USER']}:{db['PASSWORD']}@" if db["PASSWORD"] else f"{db['USER']}@"
    server = Server(f"postgres://{user}127.0.0.1:{proxy.port}/{db['NAME']}")
    try:
        status, _, body = server.get("/api/v1/sessions", key)
        assert status == 200, body[:300]
        assert server.get("/")[0] == 200

        proxy.cut()
        _assert_api_503(*server.get("/api/v1/sessions", key))
        # the home page's shared copy (sessions_app.pagecache) keeps answering; a personal request needs the
        # database and says so
        assert server.get("/")[0] == 200
        _assert_page_503(*server.get("/", {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}))

        proxy.restore()
        status, _, body = server.get("/api/v1/sessions", key)
        assert status == 200, body[:300]
        assert server.get("/")[0] == 200
    finally:
        server.stop()
        proxy.cut()
