"""The edge hot set behind a real caching proxy: Debian's nginx with `proxy_cache` on loopback.

A skewed (Zipf) mix of clip URLs goes through nginx; hot objects (Cache-Control: long max-age,
immutable) must be HITs after their first request; cold ones (short max-age) must not be served
from the cache beyond their max-age. The bytes that reach the origin are counted.

The origin is STORAGE's serving view (`/media/a/<sha256>.<ext>`, sessions_app.assets.delivery)
under Django's live server when that URL resolves; until it is merged, a minimal stand-in origin
(`StandInOrigin`, below) serves the same URL with the headers rule the view must follow: hot →
`public, max-age=31536000, immutable`, cold → `public, max-age=<short>`. tests/perf/bench_assets.py
uses the same helpers.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

NGINX = os.environ.get("NGINX_PATH") or "/usr/sbin/nginx"
HOT_CACHE_CONTROL = "public, max-age=31536000, immutable"
COLD_MAX_AGE = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


def nginx_available() -> bool:
    return os.path.exists(NGINX)


CONF = """
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    # The edge: keeps what the origin's Cache-Control allows, for as long as it allows.
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=assets:10m max_size=2g inactive=7d use_temp_path=off;
    upstream origin {{ server {upstream}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        location /media/a/ {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_cache assets;
            proxy_cache_key $uri;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


class CachingProxy:
    """nginx with proxy_cache on loopback in front of `upstream` ("127.0.0.1:port"); started and stopped here."""

    def __init__(self, prefix: Path, upstream: str):
        self.prefix, self.upstream, self.port = Path(prefix), upstream, free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        user = "user root root;" if os.geteuid() == 0 else ""
        conf.write_text(CONF.format(user=user, prefix=self.prefix, upstream=self.upstream, port=self.port))
        check = subprocess.run([NGINX, "-t", "-e", "stderr", "-p", str(self.prefix), "-c", str(conf)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(
            [NGINX, "-e", "stderr", "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_listening(self.port)
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class StandInOrigin:
    """A minimal origin for `/media/a/<sha256>.<ext>` following the hot/cold headers rule.

    `objects` maps "<sha256>.<ext>" → (hot, bytes, content type). Counts requests and body bytes
    it served (what reached the origin)."""

    def __init__(self, objects: dict[str, tuple[bool, bytes, str]], cold_max_age: int = COLD_MAX_AGE):
        self.objects, self.cold_max_age = objects, cold_max_age
        self.requests, self.bytes_out = 0, 0
        self.lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                found = origin.objects.get(name) if self.path.startswith("/media/a/") else None
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                hot, body, ctype = found
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header(
                    "Cache-Control", HOT_CACHE_CONTROL if hot else f"public, max-age={origin.cold_max_age}"
                )
                self.end_headers()
                self.wfile.write(body)
                with origin.lock:
                    origin.requests += 1
                    origin.bytes_out += len(body)

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def fetch(port: int, path: str) -> tuple[int, dict[str, str], int]:
    """GET through a fresh connection: (status, lower-cased headers, body length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, len(body)


def zipf_sequence(n_objects: int, n_requests: int, *, s: float = 1.1, seed: int = 12) -> list[int]:
    """Indexes 0..n_objects−1 drawn with P(k) ∝ 1/(k+1)^s (a skewed, Zipf-like popularity)."""
    rng = random.Random(seed)
    weights = [1 / (k + 1) ** s for k in range(n_objects)]
    return rng.choices(range(n_objects), weights=weights, k=n_requests)


def storage_view_resolves() -> bool:
    """True once STORAGE's serving view answers /media/a/<sha256>.<ext> (sessions_app.assets.delivery)."""
    from django.urls import Resolver404, resolve

    try:
        match = resolve("/media/a/" + "0" * 64 + ".mp4")
    except Resolver404:
        return False
    return "delivery" in (match.func.__module__ or "")


def build_clips(n: int, *, size: int, views: list[int]):
    """`n` clip objects with real bytes in the store, page views on them, ranked by hot_set_rank."""
    from django.utils import timezone

    from sessions_app.assets.cas import asset_put_bytes
    from sessions_app.assets.hotset import hot_set_rank
    from sessions_app.assets.models import AssetDelivery, AssetObject, Clip
    from tests.factories import LiveSessionFactory

    session = LiveSessionFactory()
    rng = random.Random(5)
    objs = []
    for i in range(n):
        data = b"\x00\x00\x00\x18ftypmp42" + rng.randbytes(size - 12) + i.to_bytes(4, "big")
        obj = asset_put_bytes(data=data[:size], kind="clip", original_name=f"clip{i}.mp4")
        Clip.objects.create(session=session, asset=obj, title=f"clip {i}", start_ms=i * 1000, end_ms=i * 1000 + 900,
                            state="ready")
        if views[i]:
            AssetDelivery.objects.create(asset=obj, day=timezone.now().date(), views=views[i])
        objs.append(obj)
    hot_set_rank(now=timezone.now())
    return [AssetObject.objects.get(pk=o.pk) for o in objs]


def replay(port: int, paths: list[str]) -> list[tuple[str, str, int]]:
    """Request each path in order; [(path, X-Cache-Status, body bytes)]."""
    out = []
    for path in paths:
        status, headers, length = fetch(port, path)
        assert status == 200, (path, status)
        out.append((path, headers.get("x-cache-status", ""), length))
    return out


# --- the test ----------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def origin_for(request):
    """Returns a context manager giving (upstream "host:port", counter) for a list of objects."""

    def make(objs):
        if storage_view_resolves():
            live = request.getfixturevalue("live_server")
            return contextlib.nullcontext((live.url.removeprefix("http://"), None))
        from sessions_app.assets.cas import asset_open

        snapshot = {}
        for o in objs:
            with asset_open(o) as fh:
                snapshot[f"{o.sha256}.{o.extension}"] = (o.hot, fh.read(), o.content_type)
        origin = StandInOrigin(snapshot)
        return _origin_cm(origin)

    return make


@contextlib.contextmanager
def _origin_cm(origin: StandInOrigin):
    with origin:
        yield f"127.0.0.1:{origin.port}", origin


def test_hot_objects_are_hits_after_the_first_request_and_cold_ones_expire(tmp_path, origin_for, settings):
    if not nginx_available():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the caching-proxy test: {NGINX} is missing (`make nginx` installs it)")
        pytest.skip("Debian's nginx is not installed (`make nginx` installs it when root)")
    # the origin's cold max-age, shortened so the test can watch a cold object expire at the edge
    settings.ASSET_COLD_MAX_AGE = 2
    # given 30 clips whose page views follow a Zipf law: the daily ranking makes the top 3 hot
    n, size = 30, 32 * 1024
    views = [round(1000 / (k + 1) ** 1.1) for k in range(n)]
    objs = build_clips(n, size=size, views=views)
    hot = [o for o in objs if o.hot]
    assert [o.pk for o in hot] == [o.pk for o in objs[:3]]
    urls = [f"/media/a/{o.sha256}.{o.extension}" for o in objs]
    with origin_for(objs) as (upstream, origin), CachingProxy(tmp_path / "nginx", upstream) as proxy:
        # when a skewed mix of 400 requests goes through the edge
        seq = zipf_sequence(n, 400)
        results = replay(proxy.port, [urls[i] for i in seq])
        # then every hot object is a MISS once, then always a HIT
        statuses: dict[str, list[str]] = {}
        for path, status, length in results:
            assert length == size
            statuses.setdefault(path, []).append(status)
        for o in hot:
            got = statuses[urls[objs.index(o)]]
            assert got[0] == "MISS" and set(got[1:]) <= {"HIT"}, got[:10]
        # and a cold object is not served from the edge beyond its max-age
        cold_path = urls[-1]
        first = fetch(proxy.port, cold_path)[1]
        max_age = int(re.search(r"max-age=(\d+)", first["cache-control"]).group(1))
        assert max_age < 31536000
        if max_age > 10:
            pytest.skip(f"the origin's cold max-age is {max_age} s: too long to wait for in a test")
        time.sleep(max_age + 1.2)
        again = fetch(proxy.port, cold_path)[1]
        assert again["x-cache-status"] in {"EXPIRED", "MISS"}
        # the bytes that reached the origin: every hot object once, cold ones each time they expired
        counts = Counter(status for _p, status, _l in results)
        hit_ratio = counts["HIT"] / len(results)
        if origin is None:  # the real origin view counts what it sends in AssetDelivery
            from django.db.models import Sum

            from sessions_app.assets.models import AssetDelivery

            sent = AssetDelivery.objects.aggregate(b=Sum("bytes_origin"))["b"] or 0
            origin_bytes = sent - 2 * size
            requested = len(results) * size
            print(f"\nedge: hit ratio {hit_ratio:.2f}, origin bytes {origin_bytes} of {requested}")
            # every hot object reached the origin once; the rest at most once per request
            assert len(hot) * size <= origin_bytes < requested
        if origin is not None:
            origin_bytes = origin.bytes_out - 2 * size  # the two cold probes above
            requested = len(results) * size
            print(f"\nedge: hit ratio {hit_ratio:.2f}, origin bytes {origin_bytes} of {requested} "
                  f"({origin_bytes / requested:.2f} of no-cache)")
            assert origin_bytes < requested
        hot_requests = sum(1 for i in seq if objs[i].hot)
        assert counts["HIT"] >= hot_requests - len(hot)
