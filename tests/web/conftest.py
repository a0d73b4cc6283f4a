"""Pages in a real browser: Playwright drives Debian's chromium (no browser download)
against the live test server.

`browsing` gives a page whose every console error, uncaught exception and request to a
host other than the test server (the request is blocked) fails the test, and whose
`look(name)` checks there is no horizontal scroll at 375 px and writes screenshots at
1280 and 375 px to the git-ignored `screenshots/` folder, to be looked at.
"""

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser():
    """One chromium per test module."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser` (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls
    # (setting up data, checking what the pages wrote) are plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class Browsing:
    page: object
    base_url: str
    problems: list[str] = field(default_factory=list)
    looked_at: list[str] = field(default_factory=list)
    # Set while a test submits a form it expects to be refused (a 400 with the errors inline).
    expecting_errors: bool = False

    def open(self, path: str):
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, f"{path}: {response.status if response else 'no response'}"
        return response

    @contextmanager
    def refusal_expected(self):
        """A form submitted to be refused: its page answers 400 with the errors inline, which
        chromium also reports on the console; that one answer is not a problem."""
        self.expecting_errors = True
        try:
            yield
        finally:
            self.expecting_errors = False

    def record_console(self, message) -> None:
        if message.type != "error":
            return
        if self.expecting_errors and message.text.startswith("Failed to load resource: the server responded with a status of 400"):
            return
        self.problems.append(f"console {message.type}: {message.text} at {message.location} on {self.page.url}")

    def record_response(self, response) -> None:
        if response.status >= 400 and not (self.expecting_errors and response.status == 400):
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def look(self, name: str) -> None:
        """Screenshots at 1280 and 375 px; at 375 px the page must not scroll sideways."""
        SCREENSHOTS.mkdir(exist_ok=True)
        for label, viewport in (("1280", DESKTOP), ("375", PHONE)):
            self.page.set_viewport_size(viewport)
            self.page.wait_for_load_state("load")
            scroll_width, inner_width = self.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
            assert scroll_width <= inner_width, f"{name} scrolls sideways at {label} px: {scroll_width} > {inner_width}"
        self.page.set_viewport_size(DESKTOP)
        self.looked_at.append(name)


@pytest.fixture
def browsing(browser, live_server):
    own_host = urlsplit(live_server.url).netloc
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    session = Browsing(page=None, base_url=live_server.url)

    def only_the_test_server(route):
        if urlsplit(route.request.url).netloc == own_host:
            route.continue_()
        else:
            session.problems.append(f"request to another host (blocked): {route.request.url}")
            route.abort()

    context.route("**/*", only_the_test_server)
    page = context.new_page()
    page.on("console", session.record_console)
    page.on("pageerror", lambda error: session.problems.append(f"uncaught error: {error}"))
    page.on("response", session.record_response)
    session.page = page
    yield session
    context.close()
    assert not session.problems, "\n".join(session.problems)
