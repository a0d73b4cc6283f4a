"""The curator flow in a real browser: Playwright drives Debian's chromium against the live server."""

import json
from datetime import date
from pathlib import Path

import pytest
from django.utils import timezone

from marketplace.models import ProviderEvent, ProviderMetrics, SignalProvider
from tests.marketplace.support import make_curator, make_provider, make_user

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_a_curator_approves_a_pending_provider_in_admin_and_it_appears_in_the_traders_list(live_server, tmp_path):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser` (apt-get install chromium).")
    # given (all database work happens before the browser's event loop starts)
    curator = make_curator("carol")
    provider = make_provider(make_user("paula"), status=SignalProvider.Status.PENDING, display_name="Paula's Breakouts")
    make_provider(make_user("other"), status=SignalProvider.Status.PENDING, display_name="Someone Else")
    ProviderMetrics.objects.create(
        provider=provider,
        window="all",
        as_of=date(2026, 3, 9),
        computed_at=timezone.now(),
        total_return=0.05,
        equity_series=[["2026-03-07", "10000.00"], ["2026-03-08", "10300.00"], ["2026-03-09", "10500.00"]],
    )
    reason = "Audited exchange statements, 14 months of history."

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        try:
            # when: the curator logs in and approves the provider with a reason
            page.goto(f"{live_server.url}/admin/login/?next=/admin/marketplace/signalprovider/")
            page.fill("#id_username", "carol")
            page.fill("#id_password", "carol-pass-123")
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/marketplace/signalprovider/")
            page.check(f"input[name=_selected_action][value='{provider.pk}']")
            page.select_option("select[name=action]", "approve")
            page.click("button[name=index]")
            page.wait_for_selector("#transition-form")
            assert "Paula's Breakouts" in page.inner_text("#transition-form")
            assert "Someone Else" not in page.inner_text("#transition-form")
            page.fill("#id_reason", reason)
            page.click("#confirm-transition")
            page.wait_for_selector(".messagelist .success")
            success = page.inner_text(".messagelist")

            # then: the provider is in the public traders list
            traders = page.request.get(f"{live_server.url}/api/marketplace/traders", headers={"Accept": "application/json"})
            listed = json.loads(traders.text())

            # and the event log on the provider's page shows the approval, next to the equity curve
            page.goto(f"{live_server.url}/admin/marketplace/signalprovider/{provider.pk}/change/")
            event_log = page.inner_text("#events-group")
            curve_points = page.get_attribute("#provider-equity-curve svg.equity-curve polyline", "points")
            page.screenshot(path=str(tmp_path / "provider.png"), full_page=True)
        finally:
            browser.close()

    assert "Approve 1 provider(s): done." in success
    assert traders.status == 200
    assert [row["display_name"] for row in listed["results"]] == ["Paula's Breakouts"]
    assert "approve" in event_log and "pending" in event_log and "approved" in event_log
    assert reason in event_log
    assert "carol" in event_log
    assert len(curve_points.split()) == 3
    event = ProviderEvent.objects.get(provider=provider)
    assert (event.action, event.from_value, event.to_value, event.actor, event.reason) == (
        "approve",
        "pending",
        "approved",
        curator,
        reason,
    )
    assert SignalProvider.objects.get(pk=provider.pk).status == "approved"
