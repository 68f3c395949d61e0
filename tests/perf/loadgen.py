"""A small HTTP load generator, run as its own process: python -m tests.perf.loadgen CONFIG_JSON.

CONFIG: {"url", "method", "headers", "body" (may contain "{n}", replaced by a
unique number per request), "concurrency", "seconds"}. Each thread keeps one
keep-alive connection. Prints JSON: requests, errors (by status), rps, p50_ms, p99_ms.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
from urllib.parse import urlparse


def run(config: dict) -> dict:
    url = urlparse(config["url"])
    stop_at = time.perf_counter() + config["seconds"]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(10**9))

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        mine, codes = [], {}
        path = url.path + (f"?{url.query}" if url.query else "")
        while time.perf_counter() < stop_at:
            with lock:
                n = next(counter)
            body = config.get("body")
            if body is not None:
                body = body.replace("{n}", f"{os.getpid()}-{n}")
            started = time.perf_counter()
            try:
                conn.request(config.get("method", "GET"), path, body=body, headers=config.get("headers", {}))
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 599
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            mine.append(time.perf_counter() - started)
            codes[status] = codes.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(config["concurrency"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return round(latencies[min(int(len(latencies) * p), len(latencies) - 1)] * 1000, 2) if latencies else None

    return {
        "requests": len(latencies),
        "statuses": statuses,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
