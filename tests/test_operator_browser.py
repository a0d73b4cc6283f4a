"""The product as `make run` serves it, in a real browser: gunicorn started from the Procfile's
`web` line, Debian's chromium driven by Playwright, and every request that would leave
127.0.0.1 blocked and recorded (the pages must work offline: no CDN, no font host).

Screenshots of the pages (1280 px wide) go to screenshots/ (git-ignored) for a person to look at.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from billing.roles import billing_group
from devtools.processes import database_url, procfile_web_process
from marketplace.models import ProviderEvent, ProviderMetrics, SignalProvider
from tests.billing.ledger import october_ledger
from tests.marketplace.support import make_curator, make_user, pending_provider_with_record

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
WIDTH = 1280

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def web(simulator, tmp_path, settings):
    """gunicorn exactly as `make run` starts it, on this test's database and Redis, pricing from the simulator."""
    # Users made here must log in there: the local settings verify the default hasher only.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    env = {
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "EXCHANGE_URL_OVERRIDES": f"binance={simulator.base_url}",
        "EXCHANGE_TICKER_CACHE_SECONDS": "0",
    }
    with open(tmp_path / "web.log", "w+") as log, procfile_web_process(env=env, log=log) as base_url:
        yield base_url


class OfflineBrowser:
    """A chromium page that may reach 127.0.0.1 only: anything else is aborted and remembered."""

    def __init__(self, playwright):
        self.browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        self.context = self.browser.new_context(viewport={"width": WIDTH, "height": 900})
        self.left_the_host: list[str] = []
        self.responses: list = []
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.page.on("response", lambda response: self.responses.append(response))

    def _only_loopback(self, route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.left_the_host.append(route.request.url)
            route.abort()

    def log_in(self, base_url: str, username: str) -> None:
        self.page.goto(f"{base_url}/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", f"{username}-pass-123")
        self.page.click("input[type=submit]")
        self.page.wait_for_url(f"{base_url}/admin/")

    def shoot(self, name: str, *, full_page: bool = True) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    def close(self) -> None:
        self.browser.close()


def _chromium():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser` (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    return sync_playwright()


@pytest.mark.django_db(transaction=True)
def test_under_make_run_a_curator_reads_a_pending_providers_record_and_approves_it_on_its_page(web, simulator):
    # given (all database work before the browser's event loop starts)
    make_curator("carol")
    provider = pending_provider_with_record(simulator)
    reason = "Two clean BTC trades, both inside their candles; fees as disclosed."

    with _chromium() as playwright:
        browser = OfflineBrowser(playwright)
        page = browser.page
        try:
            # the admin is styled: its stylesheets answer 200 and the header is painted
            browser.log_in(web, "carol")
            stylesheets = {
                response.url: response.status for response in browser.responses if response.request.resource_type == "stylesheet"
            }
            header_background = page.eval_on_selector("#header", "element => getComputedStyle(element).backgroundColor")
            browser.shoot("admin-index-curator")

            # the curator reads the record: trades first, then checks it (verification, metrics) now
            page.goto(f"{web}/admin/marketplace/signalprovider/?status__exact=pending")
            browser.shoot("provider-list-pending")
            page.click(f"text={provider.display_name}")
            page.wait_for_selector("#provider-trades")
            trades_before = page.locator("#provider-trades tr.trade").count()
            metrics_before = page.inner_text("#provider-metrics")
            browser.shoot("provider-pending-before-check")
            page.click("#check-record")
            page.wait_for_selector(".messagelist .success")
            checked = page.inner_text(".messagelist")
            metrics_after = page.inner_text("#provider-metrics")
            verification = page.inner_text("#provider-verification")
            curve_points = page.get_attribute("#provider-equity-curve svg.equity-curve polyline", "points")
            browser.shoot("provider-pending-record-checked")

            # and decides with the button on the page, the reason inline
            page.fill("#id_decision_reason", reason)
            page.click("#decide-approve")
            page.wait_for_selector(".messagelist .success")
            decided = page.inner_text(".messagelist")
            event_log = page.inner_text("#events-group")
            buttons_after = [page.get_attribute(button, "value") for button in ["#decide-suspend"] if page.locator(button).count()]
            browser.shoot("provider-approved")
        finally:
            browser.close()

    assert stylesheets and all(status == 200 for status in stylesheets.values()), stylesheets
    assert any(url.endswith("/static/admin/css/base.css") for url in stylesheets)
    assert header_background not in ("rgba(0, 0, 0, 0)", "transparent")
    assert trades_before == 2
    assert metrics_before.count("not computed yet") == 4
    yesterday = timezone.now().date() - timedelta(days=1)  # the last full day: metrics are daily
    assert (
        f"Record checked: 2 trade(s) verified, 0 mismatch(es), 0 without a candle; metrics computed up to {yesterday:%-d %b %Y}." in checked
    )
    assert "not computed yet" not in metrics_after and "Verified: 2" in verification
    assert len(curve_points.split()) >= 3
    assert f"Approve: done for {provider.display_name}." in decided
    assert "approve" in event_log and reason in event_log and "carol" in event_log
    assert buttons_after == ["suspend"]  # an approved provider may now only be suspended
    assert browser.left_the_host == []
    provider.refresh_from_db()
    assert provider.status == SignalProvider.Status.APPROVED
    event = ProviderEvent.objects.get(provider=provider, action="approve")
    assert (event.actor.username, event.reason) == ("carol", reason)
    assert ProviderMetrics.objects.filter(provider=provider).count() == 4


@pytest.mark.django_db(transaction=True)
def test_under_make_run_swagger_ui_and_redoc_render_the_api_with_no_request_leaving_the_host(web):
    with _chromium() as playwright:
        browser = OfflineBrowser(playwright)
        page = browser.page
        try:
            page.goto(f"{web}/api/docs/")
            page.wait_for_selector(".opblock")
            operations = page.locator(".opblock").count()
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            browser.shoot("api-docs-swagger", full_page=False)
            page.goto(f"{web}/api/redoc/")
            page.wait_for_selector("[role=menuitem]")
            redoc_entries = page.locator("[role=menuitem]").count()
            browser.shoot("api-docs-redoc", full_page=False)
            failed = [(response.url, response.status) for response in browser.responses if response.status >= 400]
        finally:
            browser.close()

    assert operations >= 30, operations
    assert "/api/copy-trading/start" in [path.replace("\u200b", "") for path in paths]
    assert redoc_entries >= 10
    assert failed == []
    assert browser.left_the_host == []


@pytest.mark.django_db(transaction=True)
def test_under_make_run_the_billing_role_reads_the_ledger_in_cents(web):
    october_ledger()
    operator = make_user("bill", is_staff=True)
    operator.groups.add(billing_group())

    with _chromium() as playwright:
        browser = OfflineBrowser(playwright)
        page = browser.page
        try:
            browser.log_in(web, "bill")
            browser.shoot("admin-index-billing")
            page.goto(f"{web}/admin/billing/invoice/")
            invoices = page.inner_text("#result_list")
            browser.shoot("invoice-list")
            page.click("#result_list tbody a")
            page.wait_for_selector("#lines-group")
            invoice = page.inner_text("#content")
            browser.shoot("invoice-change")
            page.goto(f"{web}/admin/billing/payout/")
            payouts = page.inner_text("#result_list")
            browser.shoot("payout-list")
            page.click("#result_list tbody a")
            page.wait_for_selector("#id_tx_hash")
            browser.shoot("payout-change-awaiting-manual")
            page.goto(f"{web}/admin/billing/feeassessment/")
            browser.shoot("fee-assessment-list")
            page.goto(f"{web}/admin/marketplace/signalprovider/")
            refused = page.inner_text("body")
        finally:
            browser.close()

    assert "68.89 USD" in invoices and "2026-10" in invoices
    assert "Invoice 2026-10 · follower ana · 68.89 USD · paid" in invoice and "31.91 USD" in invoice
    assert "55.11 USD" in payouts and "Awaiting Manual" in payouts
    assert "403" in refused or "Forbidden" in refused
    assert browser.left_the_host == []
