"""`make first-page`: how long a fresh `make run` takes to serve its first page, dependencies installed.

Runs the real `make run` (migrate, seed the demo, start the web server and the worker) on an empty
var directory (a temporary VAR_DIR: a new SQLite database and media folder; your var/ is untouched),
polls http://127.0.0.1:<port>/ and reports the seconds until the first 200, and until migrations and
seeding were done ("Serving on" printed). Then stops it with SIGINT, as Ctrl-C does.
The install step is skipped (`make -o .venv/.installed`): the figure is "after dependencies are installed".

    make first-page            # or: .venv/bin/python -m tests.perf.first_page
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
LIMIT_SECONDS = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure() -> dict[str, float]:
    """{"serving": seconds until `make run` printed "Serving on", "first_page": seconds until the first 200}."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mm-first-page-") as var:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TESTING"}}
        env.update({"VAR_DIR": var, "DEBUG": "1"})
        log = Path(var) / "make-run.log"
        started = time.monotonic()
        with log.open("w") as out:
            proc = subprocess.Popen(
                ["make", "--no-print-directory", "-o", ".venv/.installed", "run", f"PORT={port}"],
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
            )
        serving = first_page = None
        try:
            while time.monotonic() - started < LIMIT_SECONDS and first_page is None:
                if proc.poll() is not None:
                    raise SystemExit(f"make run exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                if serving is None and "Serving on" in log.read_text():
                    serving = time.monotonic() - started
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status == 200:  # noqa: S310
                        first_page = time.monotonic() - started
                except OSError:
                    time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if first_page is None:
            raise SystemExit(f"no page after {LIMIT_SECONDS} s:\n{log.read_text()[-3000:]}")
        return {"serving": serving or first_page, "first_page": first_page}


def main() -> int:
    result = measure()
    print(
        f"fresh make run: migrations + demo data in {result['serving']:.1f} s, "
        f"first page (200 from /) after {result['first_page']:.1f} s"
    )
    return 0 if result["first_page"] < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
