"""The documented deployment, on loopback: Debian's nginx (config/deploy/nginx.conf) in front of gunicorn.

The slow-connection probe: 40+ slow clients (half trickle their headers, half announce a body and
trickle it) hold connections open while a normal visitor asks for the home page. Against gunicorn
alone the sync workers are all taken and the visitor stalls; through nginx the visitor is served
at once, because nginx reads each request completely before gunicorn sees it. The figures are
printed (run with `-s`) and asserted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from tests.deploy.nginxconf import NGINX, nginx_config, nginx_globals, wait_listening
from tests.factories import make_drop

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_CLIENTS = 48
WORKERS = 2
STALL_SECONDS = 6.0  # a visitor waiting this long has been stalled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def get(port: int, path: str = "/", timeout: float = STALL_SECONDS) -> tuple[int | None, float]:
    """One plain HTTP/1.1 GET; (status or None when it did not answer in time, seconds taken)."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.1, timeout - (time.monotonic() - started)))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None
            while s.recv(65536):  # read the whole response, as a browser would
                pass
    except (TimeoutError, OSError):
        return None, time.monotonic() - started
    return status, time.monotonic() - started


class SlowClients:
    """`n` connections that never finish their request: half trickle headers, half trickle a body."""

    def __init__(self, port: int, n: int):
        self.port, self.n = port, n
        self.socks: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self):
        for i in range(self.n):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            if i % 2:
                s.sendall(
                    b"POST /a/e HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
                )
            else:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.socks.append(s)
        self.thread.start()
        time.sleep(1.0)  # let the server take them in
        return self

    def _trickle(self):
        while not self.stop.wait(0.5):
            for i, s in enumerate(self.socks):
                with contextlib.suppress(OSError):
                    s.sendall(b"x" if i % 2 else f"X-Slow-{int(time.monotonic() * 10)}: 1\r\n".encode())

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


@pytest.fixture
def gunicorn():
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}},
        "DEBUG": "0",
        "TESTING": "1",
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "ANALYTICS_WRITER": "sync",
    }
    proc = subprocess.Popen(  # the documented command: sync workers, the default worker class
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(WORKERS),
            "--timeout",
            "60",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def nginx(tmp_path, gunicorn):
    if not os.path.exists(NGINX):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the deployment test: {NGINX} is missing (.ci/run installs nginx)")
        pytest.skip("Debian's nginx is not installed (`make test` / .ci/run install it when root)")
    port = free_port()
    conf = nginx_config(tmp_path, listen=port, upstream=f"127.0.0.1:{gunicorn}")
    check = subprocess.run(
        [NGINX, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [NGINX, "-e", "stderr", "-p", str(tmp_path), "-c", str(conf), "-g", nginx_globals()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(port, proc)
        yield port
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_config_has_every_placeholder_filled(tmp_path):
    conf = nginx_config(tmp_path, listen=8080, upstream="127.0.0.1:8000").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    assert "@@" not in code
    for directive in (
        "proxy_request_buffering on",
        "proxy_buffering on",
        "client_header_timeout",
        "client_body_timeout",
    ):
        assert directive in code
    assert "proxy_set_header X-Forwarded-For $remote_addr" in code
    # the micro-cache (docs/deployment.md, "Micro-cache"): origin-driven, personal requests never served from it
    for directive in (
        "proxy_cache microcache",
        "proxy_cache_lock on",
        "proxy_cache_background_update on",
        "proxy_cache_use_stale updating error timeout http_502 http_503 http_504",
        "add_header X-Cache-Status $upstream_cache_status always",
    ):
        assert directive in code
    assert "proxy_cache_valid" not in code  # nothing cached on nginx's own authority
    assert "proxy_ignore_headers" not in code  # Set-Cookie / Cache-Control: private keep a response out


def test_nginx_serves_a_visitor_while_slow_clients_stall_bare_gunicorn(nginx, gunicorn):
    make_drop(quantity=5)  # a live session, so the home page does real work
    # warm up both workers (first requests load templates), then check both ways answer
    for _ in range(2 * WORKERS):
        assert get(gunicorn, timeout=60)[0] == 200
    assert get(nginx, timeout=60)[0] == 200

    # gunicorn alone: the slow clients take every sync worker and the visitor waits
    with SlowClients(gunicorn, SLOW_CLIENTS):
        bare_status, bare_seconds = get(gunicorn, timeout=STALL_SECONDS)

    # behind nginx: the same attack, and visitors are served at once
    timings = []
    with SlowClients(nginx, SLOW_CLIENTS):
        for _ in range(10):
            status, seconds = get(nginx, timeout=STALL_SECONDS)
            assert status == 200
            timings.append(seconds)
        # the slow clients are still connected, not refused: nginx simply holds them
        assert get(nginx, "/static/css/shop.css")[0] == 200
    # nginx dropped the incomplete requests itself after client_header/body timeouts, gunicorn never saw them

    bare = (
        f"no answer within {STALL_SECONDS:.0f} s"
        if bare_status is None
        else f"{bare_status} after {bare_seconds:.2f} s"
    )
    print(
        f"\nslow-connection probe, {SLOW_CLIENTS} slow clients, gunicorn -w {WORKERS} (sync):"
        f"\n  gunicorn alone : visitor {bare}"
        f"\n  behind nginx   : 10 visitors, median {statistics.median(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms"
    )
    assert bare_status is None or bare_seconds > STALL_SECONDS / 2, (
        "gunicorn alone was not stalled: the probe is too weak"
    )
    assert max(timings) < 2.0
