"""`make run` stops cleanly on Ctrl-C: its serve step (web server + django-q2 worker) exits at once, quietly.

The old recipe (`trap 'kill 0' EXIT INT TERM`) signalled its own process group from its own trap, which
ran the trap again: a recursion that ended in "Segmentation fault" and a flood of signals into the
worker's handler (a 2,800-line RecursionError traceback). This starts `make serve` (the run recipe minus
install, migrate and seed) in its own process group on the test database, waits for the first page, sends
SIGINT to the group as a terminal's Ctrl-C does, and checks that everything is gone within the limit,
with no traceback or segfault in the output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.deploy.test_nginx import database_url, free_port

pytestmark = pytest.mark.django_db(transaction=True)

STOP_WITHIN_SECONDS = 60  # a liveness bound, not a speed claim: a clean stop takes about 2 s idle, 15-25 s on a loaded 2-core machine (the worker finishes its current task)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _restore_ctrl_c() -> None:
    # A process started in the background by a non-interactive shell inherits SIGINT ignored;
    # a terminal's foreground job does not. Start make as the terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_web_server_and_the_worker_once_and_quietly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"TESTING", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update({"DEBUG": "1", "DATABASE_URL": database_url(), "PORT": str(port), "ANALYTICS_WRITER": "sync"})
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "serve", f"PORT={port}"],
            cwd=Path(settings.BASE_DIR),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_restore_ctrl_c,  # noqa: PLW1509 - only resets a signal disposition
        )
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and status != 200:
            assert proc.poll() is None, log.read_text()
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status  # noqa: S310
            except OSError:
                time.sleep(0.3)
        assert status == 200, log.read_text()
        deadline = time.monotonic() + 30  # the worker is up too (it prints this once its processes run)
        while "running." not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=STOP_WITHIN_SECONDS)
        stop_deadline = time.monotonic() + 5
        while _group_alive(proc.pid) and time.monotonic() < stop_deadline:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "a child of `make serve` outlived it"
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    output = log.read_text()
    assert "has stopped" in output  # the worker shut down in order
    for bad in ("Traceback", "Segmentation", "RecursionError"):
        assert bad not in output, output
