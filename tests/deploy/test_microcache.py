"""The micro-cache of config/deploy/nginx.conf (section 5) on loopback, in front of a real gunicorn.

Debian's nginx with the repository's config, filled in as tests/deploy/test_nginx.py does, in front
of gunicorn serving the project (plus the probe URLs of tests/deploy/edge_origin.py). gunicorn
writes an access log, so every request that reached the origin is counted, including nginx's
background refreshes.

Proven here: the live status JSON is answered from the cache and many rapid requests reach the
origin about once a second; personal requests (the `sessionid`, `messages` cookies, an API credential,
and the `mm_member` cookie on any page but the session page, the home page and the status JSON) are
never answered from the cache and what they get is never stored; a member gets the same cached session
page, home page and status JSON as everyone; the session page's me.json is never cached; responses with
a Set-Cookie or `Cache-Control: private` are never stored; POSTs are never cached; the back office
and Stripe's URLs are not cached at all; hot session assets are.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from tests.deploy.nginxconf import NGINX, nginx_running, stop, wait_listening
from tests.deploy.test_nginx import database_url, free_port
from tests.factories import make_drop

pytestmark = pytest.mark.django_db(transaction=True)

HAMMER_SECONDS = 3.0
HAMMER_THREADS = 6
SHARED_STATUSES = {"HIT", "STALE", "UPDATING", "EXPIRED"}  # answers that never waited on the origin's render


def fetch(port: int, path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request through a fresh connection: (status, headers with lower-case names, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


class Origin:
    """gunicorn on loopback with an access log: `count(path)` = requests for `path` that reached it."""

    def __init__(self, port: int, log: Path):
        self.port, self.log = port, log

    def count(self, path: str) -> int:
        if not self.log.exists():
            return 0
        return sum(1 for line in self.log.read_text().splitlines() if line.split(" ")[1:2] == [path])

    def settled(self, path: str, at_least: int = 0) -> int:
        """The count once it reaches `at_least` and stops moving (gunicorn logs just after answering)."""
        deadline = time.monotonic() + 10
        last = self.count(path)
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.count(path)
            if now >= at_least and now == last:
                return now
            last = now
        return last


@contextlib.contextmanager
def origin_running(log: Path, port: int):
    """gunicorn (2 sync workers) serving tests/deploy/edge_origin.py on 127.0.0.1:`port`, access log to `log`."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}},
        "DEBUG": "0",
        "TESTING": "1",
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "ANALYTICS_WRITER": "sync",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tests.deploy.edge_origin:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--timeout",
            "60",
            "--access-logfile",
            str(log),
            "--access-logformat",
            "%(m)s %(U)s %(s)s",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        yield Origin(port, log)
    finally:
        stop(proc, signal.SIGTERM)


def need_nginx() -> None:
    if not os.path.exists(NGINX):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the micro-cache test: {NGINX} is missing (.ci/run installs nginx)")
        pytest.skip("Debian's nginx is not installed (`make nginx` installs it when root)")


@pytest.fixture(scope="module")
def origin(django_db_setup, tmp_path_factory):
    with origin_running(tmp_path_factory.mktemp("origin") / "access.log", free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def edge(origin, tmp_path_factory):
    """nginx with config/deploy/nginx.conf in front of `origin`; yields its port."""
    need_nginx()
    port = free_port()
    with nginx_running(tmp_path_factory.mktemp("edge"), port=port, upstream=f"127.0.0.1:{origin.port}"):
        yield port


def status_path() -> str:
    return f"/s/{make_drop(quantity=5).session.public_id}/status.json"


def test_status_json_is_served_from_the_cache_and_reaches_the_origin_about_once_a_second(edge, origin):
    path = status_path()
    status, headers, first = fetch(edge, path)
    assert (status, headers["x-cache-status"]) == (200, "MISS")
    assert "public" in headers["cache-control"] and "set-cookie" not in headers
    status, headers, again = fetch(edge, path)
    assert (status, headers["x-cache-status"], again) == (200, "HIT", first)
    # the query string is not part of the status JSON's key: a cache-buster still gets the shared copy
    assert fetch(edge, f"{path}?x={uuid.uuid4().hex}")[1]["x-cache-status"] in SHARED_STATUSES

    before = origin.settled(path, at_least=1)
    seen: Counter = Counter()
    codes: Counter = Counter()
    lock = threading.Lock()
    started = time.monotonic()

    def viewer():
        while time.monotonic() - started < HAMMER_SECONDS:
            code, h, _body = fetch(edge, path, headers={"Cookie": f"mm_vid={uuid.uuid4().hex}"})
            with lock:
                codes[code] += 1
                seen[h.get("x-cache-status", "")] += 1

    threads = [threading.Thread(target=viewer) for _ in range(HAMMER_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # the refresh a stale entry triggered may still be on its way (a busy machine): wait for it
    reached = origin.settled(path, at_least=before + 1) - before
    served = sum(codes.values())
    print(
        f"\nmicro-cache, status JSON: {served} requests in {elapsed:.1f} s through nginx, "
        f"{reached} reached gunicorn; cache statuses {dict(seen)}"
    )
    assert codes == {200: served}
    assert set(seen) <= SHARED_STATUSES, seen  # nobody waited for, or bypassed to, the origin
    assert served >= 20 * max(reached, 1)
    assert 1 <= reached <= math.ceil(elapsed) + 1  # refreshed, about once a second (max-age=1), whatever the load
    # and the refreshed copy is what viewers get next: the figures are never stuck
    deadline = time.monotonic() + 10
    while fetch(edge, path)[2] == first and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fetch(edge, path)[2] != first


@pytest.mark.parametrize(
    "headers",
    [
        {"Cookie": "sessionid=abc"},
        {"Cookie": "mm_vid=" + "1" * 32 + "; mm_member=signed-pass"},
        {"Cookie": "messages=pending"},
        {"Cookie": "csrftoken=x;  sessionid = "},  # as Django parses it: the name counts, even empty
        {"Authorization": "Bearer partner"},
        {"X-API-Key": "partner-key"},
    ],
    ids=["sessionid", "mm_member", "messages", "spaced-empty-sessionid", "authorization", "api-key"],
)
def test_a_personal_request_bypasses_the_cache_and_is_not_stored(edge, origin, headers):
    # a member pass is personal on any page but those the same for members (see the next tests)
    path = f"/_edge/public/{uuid.uuid4().hex}" if "mm_member" in headers.get("Cookie", "") else status_path()
    assert fetch(edge, path)[1]["x-cache-status"] == "MISS"
    assert fetch(edge, path)[1]["x-cache-status"] == "HIT"  # a shared copy is there…
    before = origin.settled(path, at_least=1)
    for _ in range(3):
        status, h, _body = fetch(edge, path, headers=headers)
        assert (status, h["x-cache-status"]) == (200, "BYPASS")  # …and the personal request never gets it
    assert origin.settled(path, at_least=before + 3) == before + 3

    probe = f"/_edge/public?k={uuid.uuid4().hex}"  # a public response: would be stored if allowed
    _, h, personal = fetch(edge, probe, headers=headers)
    assert h["x-cache-status"] == "BYPASS"
    _, h, shared = fetch(edge, probe)
    assert h["x-cache-status"] == "MISS" and shared != personal  # what the personal request got was not kept
    _, h, again = fetch(edge, probe)
    assert (h["x-cache-status"], again) == ("HIT", shared)


def test_visitor_and_csrf_cookies_still_get_the_shared_copy(edge):
    path = status_path()
    _, _, first = fetch(edge, path)
    status, h, body = fetch(edge, path, headers={"Cookie": "mm_vid=" + "2" * 32 + "; csrftoken=" + "a" * 32})
    assert (status, h["x-cache-status"], body) == (200, "HIT", first)


@pytest.mark.parametrize("probe", ["/_edge/public-cookie", "/_edge/private"])
def test_a_response_with_set_cookie_or_private_is_never_stored(edge, origin, probe):
    before = origin.settled(probe)
    bodies = set()
    for _ in range(3):
        status, h, body = fetch(edge, probe)
        assert status == 200 and h["x-cache-status"] == "MISS"
        bodies.add(body)
    assert len(bodies) == 3
    assert origin.settled(probe, at_least=before + 3) == before + 3


def test_posts_are_never_cached(edge, origin):
    probe = "/_edge/public"  # answers `public, max-age=60` to a POST as well
    before = origin.settled(probe)
    posted = []
    for _ in range(3):
        status, h, body = fetch(edge, probe, method="POST")
        assert status == 200 and "x-cache-status" not in h  # not even looked up
        posted.append(body)
    assert len(set(posted)) == 3
    assert origin.settled(probe, at_least=before + 3) == before + 3
    # nor does a POST's answer land in the cache for the GETs
    _, h, got = fetch(edge, probe)
    assert h["x-cache-status"] == "MISS" and got not in posted


@pytest.mark.parametrize("path", ["/admin/login/", "/stripe/webhook/"])
def test_back_office_and_stripe_are_not_cached_at_all(edge, origin, path):
    before = origin.settled(path)
    for _ in range(2):
        _, h, _ = fetch(edge, path)
        assert "x-cache-status" not in h
    assert origin.settled(path, at_least=before + 2) == before + 2


def test_hot_session_assets_are_cached_and_ranges_answered_from_the_cache(edge, origin):
    path = f"/media/a/{uuid.uuid4().hex * 2}.mp4"
    _, h, whole = fetch(edge, path)
    assert h["x-cache-status"] == "MISS"
    status, h, part = fetch(edge, path, headers={"Range": "bytes=0-99"})
    assert (status, h["x-cache-status"], part) == (206, "HIT", whole[:100])
    assert origin.settled(path, at_least=1) == 1


def test_the_cached_copy_answers_while_gunicorn_is_down(tmp_path):
    need_nginx()
    path = status_path()
    port, edge_port = free_port(), free_port()
    with nginx_running(tmp_path / "edge", port=edge_port, upstream=f"127.0.0.1:{port}"):
        with origin_running(tmp_path / "access.log", port):
            _, h, first = fetch(edge_port, path)
            assert h["x-cache-status"] == "MISS"
        # gunicorn is gone (a deploy, a crash); wait until the copy is past its max-age
        deadline = time.monotonic() + 10
        while fetch(edge_port, path)[1].get("x-cache-status") == "HIT" and time.monotonic() < deadline:
            time.sleep(0.2)
        status, h, body = fetch(edge_port, path)
        assert (status, h["x-cache-status"], body) == (200, "STALE", first)
        assert fetch(edge_port, "/_edge/private")[0] == 502  # what was never cached is not invented


@pytest.mark.parametrize("page", ["session", "home"])
def test_the_session_page_and_home_page_are_one_cached_copy_for_every_anonymous_viewer(edge, origin, page):
    path = f"/s/{make_drop(quantity=5).session.public_id}/" if page == "session" else "/"
    status, h, first = fetch(edge, path)
    assert status == 200 and "public" in h["cache-control"] and "set-cookie" not in h
    before = origin.settled(path, at_least=1)
    for visitor in ("1" * 32, "2" * 32):  # two different visitors, each with their CSRF cookie
        status, h, body = fetch(edge, path, headers={"Cookie": f"mm_vid={visitor}; csrftoken={visitor}"})
        assert (status, h["x-cache-status"], body) == (200, "HIT", first)
    assert origin.settled(path) == before  # neither reached gunicorn
    # a member gets the same copy (their parts come from me.json, by script)
    status, h, body = fetch(edge, path, headers={"Cookie": "mm_vid=" + "3" * 32 + "; mm_member=signed-pass"})
    assert (status, h["x-cache-status"], body) == (200, "HIT", first)
    assert origin.settled(path) == before
    # staff or someone with pending messages gets their own rendering, never the copy
    status, h, _ = fetch(edge, path, headers={"Cookie": "sessionid=abc"})
    assert (status, h["x-cache-status"]) == (200, "BYPASS") and "private" in h["cache-control"]
    assert origin.settled(path, at_least=before + 1) == before + 1


def test_a_member_gets_the_cached_status_json(edge, origin):
    path = status_path()
    _, h, first = fetch(edge, path)
    assert h["x-cache-status"] == "MISS"
    before = origin.settled(path, at_least=1)
    status, h, body = fetch(edge, path, headers={"Cookie": "mm_member=signed-pass"})
    assert (status, h["x-cache-status"], body) == (200, "HIT", first)
    assert origin.settled(path) == before


@pytest.mark.parametrize("cookie", ["", "mm_member=signed-pass"])
def test_the_session_pages_me_json_is_never_cached(edge, origin, cookie):
    session = make_drop(quantity=5, member_price_minor=100).session
    path = f"/s/{session.public_id}/me.json"
    for _ in range(2):
        status, h, body = fetch(edge, path, headers={"Cookie": cookie} if cookie else {})
        assert status == 200 and "x-cache-status" not in h  # not even looked up
        assert "no-store" in h["cache-control"] and "private" in h["cache-control"]
        assert body == b'{"member": false, "stream": null, "drops": {}}'  # a pass the origin does not know
    assert origin.settled(path, at_least=2) == 2
