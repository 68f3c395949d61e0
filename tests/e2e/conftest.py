"""Real headless Chromium (Debian's package) driven by Playwright against live_server.

Every browser context a test opens is watched: any Content-Security-Policy violation (the
`securitypolicyviolation` DOM event or Chromium's console report), any permissions-policy
violation and any HTML page served without a Content-Security-Policy header fails the test.
Requests to other hosts never leave the machine: they are answered by a stub (an empty page, or
a 1x1 GIF for images) and recorded in `browser.external_requests`, so the pages are tested
offline and a test can assert that a page references no other host.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from dataclasses import dataclass, field

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
LOCAL = re.compile(r"^(https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?/|data:|blob:|about:)")
GIF_1X1 = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__mmReportViolation({
    page: location.href, directive: e.effectiveDirective, blocked: e.blockedURI,
    source: e.sourceFile + ":" + e.lineNumber, sample: e.sample, disposition: e.disposition,
  });
});
"""


@dataclass
class BrowserWatch:
    violations: list[dict] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    documents: list[tuple[str, dict]] = field(default_factory=list)

    def reset(self) -> None:
        self.violations.clear()
        self.external_requests.clear()
        self.documents.clear()

    def watch(self, context) -> None:
        context.expose_binding("__mmReportViolation", lambda _source, v: self.violations.append(v))
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", self._console)
        context.on("response", self._response)
        context.route(lambda url: not LOCAL.match(url), self._stub_external)

    def _console(self, msg) -> None:
        text = msg.text
        if "Content Security Policy" in text or "Permissions policy violation" in text:
            self.violations.append({"console": msg.type, "text": text, "page": msg.page.url if msg.page else ""})

    def _response(self, response) -> None:
        request = response.request
        if request.resource_type == "document" and LOCAL.match(response.url) and response.status < 300:
            headers = response.headers
            if headers.get("content-type", "").startswith("text/html"):
                self.documents.append((response.url, headers))

    def _stub_external(self, route) -> None:
        request = route.request
        self.external_requests.append(request.url)
        if request.resource_type == "image":
            route.fulfill(status=200, content_type="image/gif", body=GIF_1X1)
        else:
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>stub</title>")

    def problems(self) -> list:
        missing = [url for url, headers in self.documents if "content-security-policy" not in headers]
        return self.violations + [{"no CSP header": url} for url in missing]


class WatchedBrowser:
    """The Playwright browser, with every new context (and page) watched by `BrowserWatch`."""

    def __init__(self, browser, watch: BrowserWatch):
        self._browser = browser
        self.watch = watch

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        self.watch.watch(context)
        return context

    def new_page(self, **kwargs):
        return self.new_context(**kwargs).new_page()

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def _chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make browser / .ci/run installs it)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in the test are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                # a fake camera that is granted without a prompt: the door's scanner can really start,
                # so Permissions-Policy is what decides whether a page may use it
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser(_chromium):
    """The browser for one test; at its end no CSP/permissions-policy violation may have happened."""
    watch = BrowserWatch()
    yield WatchedBrowser(_chromium, watch)
    problems = watch.problems()
    assert not problems, f"security policy violations: {problems}"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    yield page
    context.close()
