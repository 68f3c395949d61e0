"""config/deploy/nginx.conf filled in for a loopback run, and Debian's nginx started with it.

Shared by the deployment tests (tests/deploy/) and the edge bench (tests/perf/bench_edge.py); no
Django import, so the bench can use it before settings are configured.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

NGINX = os.environ.get("NGINX_PATH") or "/usr/sbin/nginx"
CONF = Path(__file__).resolve().parents[2] / "config" / "deploy" / "nginx.conf"


def nginx_config(prefix: Path, *, listen: int | str, upstream: str) -> Path:
    """Write config/deploy/nginx.conf with its placeholders filled to `prefix`/nginx.conf; returns its path.

    `listen` is a port on 127.0.0.1, or a whole `listen` value (e.g. "127.0.0.1:8080 backlog=4096").
    `upstream` is gunicorn's address ("127.0.0.1:8000"). The file's `worker_rlimit_nofile` is lowered
    to this machine's hard limit when that is lower (as a deployment would set it), so the workers do
    not log an alert for it.
    """
    text = CONF.read_text()
    for name, value in {
        "PREFIX": str(prefix),
        "LISTEN": f"127.0.0.1:{listen}" if isinstance(listen, int) else listen,
        "UPSTREAM": upstream,
        "MIME_TYPES": "/etc/nginx/mime.types",
    }.items():
        text = text.replace(f"@@{name}@@", value)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        text = re.sub(r"worker_rlimit_nofile (\d+);", lambda m: f"worker_rlimit_nofile {min(int(m[1]), hard)};", text)
    conf = Path(prefix) / "nginx.conf"
    conf.write_text(text)
    return conf


def nginx_globals() -> str:
    """`-g` directives for a loopback run: in the foreground, and with root workers when started by
    root (the workers write the cache under a test directory only root may enter)."""
    return "daemon off;" + (" user root root;" if os.geteuid() == 0 else "")


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Return once something accepts on 127.0.0.1:`port`; AssertionError if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port} after {timeout}s")


def stop(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig`, wait up to 15 s, then kill."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def nginx_running(prefix: Path, *, port: int, upstream: str, listen: str | None = None) -> Iterator[Path]:
    """Debian's nginx with the repository's config on 127.0.0.1:`port` in front of `upstream`; yields
    `prefix` (access.log, error.log, the caches). `listen` overrides the whole listen value."""
    prefix = Path(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    conf = nginx_config(prefix, listen=listen or port, upstream=upstream)
    check = subprocess.run(
        [NGINX, "-t", "-e", "stderr", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [NGINX, "-e", "stderr", "-p", str(prefix), "-c", str(conf), "-g", nginx_globals()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        yield prefix
    finally:
        stop(proc, signal.SIGQUIT)
