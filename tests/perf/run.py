"""`make bench`: run every tests/perf/bench_*.py module's `main()` and print its report.

Benchmarks are not tests: they measure, and report each figure as a ratio to a
reference measured in the same run. They need PostgreSQL: set BENCH_DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/micromoments_bench). Run one with
`make bench BENCH=holds`.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    only = os.environ.get("BENCH") or (sys.argv[1] if len(sys.argv) > 1 else "")
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if only:
        names = [n for n in names if only in n]
    if not names:
        print("no benchmarks found", file=sys.stderr)
        return 1
    for name in names:
        print(f"== {name} ==", flush=True)
        importlib.import_module(f"tests.perf.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
