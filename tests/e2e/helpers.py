"""Helpers for the Chromium tests."""

from __future__ import annotations

import time


def wait_js(page, expression: str, timeout: float = 10.0):
    """Poll a JavaScript expression until it is truthy and return its value.

    Playwright's `wait_for_function` compiles its predicate with `eval` inside the page, which the
    Content-Security-Policy refuses (no 'unsafe-eval'); `page.evaluate` goes through the DevTools
    protocol and is not subject to the page's policy.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {expression}")
        time.sleep(0.1)
