"""The web product in a real browser (Debian's chromium): a visitor's first minutes, and
every page at 1280 and 375 px. Screenshots go to screenshots/ (see conftest.py)."""

import hashlib
import hmac
import json
import re
import time
import urllib.request
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db.models import Max
from django.utils import timezone

from copytrade.models import CopiedTrade, Copy, Strategy
from core.models import ApiToken, Notification
from core.notifications import notification_send
from core.tokens import api_token_create
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider
from tests.marketplace.support import make_copy, make_curator
from tests.web.conftest import DESKTOP, SCREENSHOTS
from tests.web.support import billed_month, closed_trade, make_leader, make_member, make_provider, password_of, rate, verify

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-and-unusual-passphrase-42"
User = get_user_model()


def _leaders():
    alice = make_member("alice", "Alice Trades")
    make_provider(alice, performance_percent="15", subscription="29")
    steady = make_leader(alice, name="Steady Breakouts", total_return=0.084, copiers=5, verified=True)
    for pnl in ("120.50", "-40.25", "88.00"):
        verify(closed_trade(steady, pnl=pnl))
    rate(alice.signal_provider, make_member("erin", "Erin"), stars=4, comment="Calm, small drawdowns, does what it says.")
    quant = make_member("platform", "Platform Quant")
    make_provider(quant, performance_percent="0", display_name="Platform Quant")  # approved: its AI strategies take a fee
    make_leader(quant, name="Momentum AI", kind="ai", total_return=-0.031, copiers=12, override="10")
    make_leader(quant, name="Fresh Scalper", kind="ai", days=4, closed_trades=2, total_return=0.02)
    return steady


def test_a_visitor_finds_a_leader_signs_up_connects_an_exchange_and_gets_an_api_token(browsing, simulated_binance):
    steady = _leaders()
    credentials = simulated_binance.create_account(balances={"USDT": "5000"})
    page = browsing.page

    # A visitor sees the leaderboard without logging in.
    browsing.open("/")
    assert page.locator("table.leaders").first.is_visible()
    row = page.locator("tr", has=page.get_by_role("link", name="Steady Breakouts"))
    assert "+8.4\u00a0%" in row.inner_text() and "30 days · 30 trades" in row.inner_text()
    assert "15 % of new profit above your high-water mark" in row.inner_text()
    assert "Fresh Scalper" in page.locator("#new-leaders ~ .table-wrap").inner_text()
    browsing.look("leaderboard")

    # The filters refresh the table in place (htmx) and keep the address shareable.
    page.get_by_label("Show").select_option("ai")
    page.wait_for_url(re.compile(r"program=ai"))
    page.locator("#leaderboard").get_by_role("link", name="Momentum AI").wait_for()
    assert page.locator("#leaderboard").get_by_role("link", name="Steady Breakouts").count() == 0
    browsing.look("leaderboard-ai")

    # ...opens a profile, sees the fees before anything else and is asked to log in to copy.
    browsing.open("/")
    page.get_by_role("link", name="Steady Breakouts").click()
    page.wait_for_url(f"**/leaders/{steady.pk}/")
    assert page.locator("svg.chart-equity").is_visible() and page.locator("svg.chart-drawdown").is_visible()
    assert "Calm, small drawdowns" in page.inner_text("main") and "Erin" in page.inner_text("main")
    assert "+ 29.00 USD a month" in page.inner_text(".copy-box")
    browsing.look("leader-profile")

    # ...signs up, with a display name.
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Email").fill("nina@example.com")
    page.get_by_label("Display name").fill("Nina Quant")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    browsing.look("signup")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    browsing.look("verification-sent")

    # ...follows the link in the verification mail and confirms: that signs her in.
    link = re.search(r"(/accounts/confirm-email/[^\s]+/)", mail.outbox[-1].body).group(1)
    browsing.open(link)
    browsing.look("confirm-email")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(browsing.base_url + "/")
    assert page.locator(".account-menu summary").inner_text().endswith("Nina Quant")

    # ...connects a (simulated) Binance account: the keys are checked with the exchange.
    page.locator(".account-menu summary").click()
    page.get_by_role("link", name="Exchange accounts").click()
    page.get_by_label("Label").fill("Binance main")
    page.get_by_label("Exchange:", exact=True).select_option("binance")
    page.get_by_label("API key:", exact=True).fill(credentials["api_key"])
    page.get_by_label("API secret:", exact=True).fill(credentials["api_secret"])
    page.get_by_role("button", name="Connect").click()
    page.locator(".message-success").wait_for()
    assert "“Binance main” connected: the exchange accepted the key." in page.inner_text(".messages")
    assert credentials["api_secret"] not in page.content()
    browsing.look("exchange-accounts")

    # ...creates an API token and sees it once.
    page.locator(".account-menu summary").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("my trading bot")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_label("Token key").input_value()
    assert page.get_by_role("button", name="Copy").is_visible()
    assert "shown only this once" in page.inner_text(".secret-once")
    browsing.look("api-token-created")
    browsing.open("/settings/tokens/")
    assert key not in page.content() and "my trading bot" in page.inner_text("main")

    user = ExchangeAccount.objects.get(label="Binance main").owner
    assert ApiToken.objects.get(user=user).prefix == key[:8]
    assert user.profile.display_name == "Nina Quant"


def test_the_unread_count_in_the_navigation_follows_marking_read(browsing):
    member = make_member("mia", "Mia")
    first = notification_send(
        user=member,
        kind=Notification.Kind.COPY_STOP_LOSS,
        title="Stop-loss hit on your copy of Steady",
        body="Equity fell 30 % below its peak; positions were closed at market and the copy paused.",
        email=False,
    )
    notification_send(user=member, kind=Notification.Kind.INVOICE, title="Your March invoice: 42.00 USD", email=False)
    page = browsing.page
    _log_in(browsing, "mia")

    browsing.open("/notifications/")
    assert page.locator("#unread-badge").inner_text().startswith("2")
    browsing.look("notifications")
    page.locator(f"#notification-{first.pk}").get_by_role("button", name="Mark as read").click()
    page.locator(f"#notification-{first.pk}:not(.notification-unread)").wait_for()
    page.wait_for_function("() => document.querySelector('#unread-badge').textContent.startsWith('1')")

    assert Notification.objects.get(pk=first.pk).read_at is not None


def _log_in(browsing, username: str) -> None:
    page = browsing.page
    browsing.open("/accounts/login/")
    page.get_by_label("Email or username").fill(username)
    page.locator("#id_password").fill(password_of(username))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(browsing.base_url + "/")


def _admin_log_in(browsing, username: str) -> None:
    page = browsing.page
    browsing.open("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password_of(username))
    page.click("input[type=submit]")
    page.wait_for_url(browsing.base_url + "/admin/")


def test_every_page_fits_a_phone_without_sideways_scrolling(browsing, simulated_binance):
    steady = _leaders()
    member = make_member("mia", "Mia")
    api_token_create(user=member, name="a token with a rather long descriptive name for the server")
    ExchangeAccount.objects.create(owner=member, exchange_id="paper", label="Practice account")
    notification_send(
        user=member,
        kind=Notification.Kind.PAYOUT,
        title="Payout sent",
        body="https://example.invalid/a/very/long/reference/that/should/wrap/0123456789abcdef0123456789abcdef",
        email=False,
    )

    for path, name in (("/accounts/login/", "login"), ("/accounts/password/reset/", "password-reset")):
        browsing.open(path)
        browsing.look(name)
    _log_in(browsing, "mia")
    # Mia copies Steady (a trade filled, one skipped) and was billed; she leads a strategy
    # that Erin copies, and she applied as a provider.
    copy = make_copy(member, steady)
    for sequence, (status, reason) in enumerate((("filled", ""), ("skipped", "below_exchange_minimum")), start=1):
        CopiedTrade.objects.create(
            copy=copy,
            sequence=sequence,
            follower=member,
            leader_user=steady.owner,
            strategy=steady,
            symbol="BTC/USDT",
            side="buy",
            effect="open",
            status=status,
            reason=reason,
            filled_amount=Decimal("0.0015") if status == "filled" else 0,
            average_price=Decimal("65000") if status == "filled" else None,
            follower_size_quote=Decimal("3.5"),
            client_order_id=f"c-{sequence}",
            finished_at=timezone.now(),
        )
    billed_month(member, steady)
    night_owl = make_leader(member, name="Night Owl", days=3, closed_trades=1)
    make_provider(member, display_name="Mia Signals")
    billed_month(User.objects.get(username="erin"), night_owl, paid=False)
    pages = {
        "/copies/": "my-copies-member",
        f"/copies/{copy.pk}/": "copy-detail",
        f"/leaders/{steady.pk}/copy/": "copy-start-paper",
        "/invoices/": "invoices",
        "/leader/strategies/": "strategies-member",
        "/leader/earnings/": "earnings",
        "/provider/": "provider",
        "/": "leaderboard-member",
        f"/leaders/{steady.pk}/": "leader-profile-member",
        "/notifications/": "notifications-member",
        "/settings/tokens/": "api-tokens",
        "/settings/exchange-accounts/": "exchange-accounts-list",
        "/accounts/password/change/": "password-change",
        "/accounts/email/": "email-addresses",
    }
    for path, name in pages.items():
        browsing.open(path)
        browsing.look(name)

    # An error state too: keys the exchange has never seen, in words, nothing kept.
    page = browsing.page
    browsing.open("/settings/exchange-accounts/")
    page.get_by_label("Label").fill("Typo")
    page.get_by_label("Exchange:", exact=True).select_option("okx")
    with browsing.refusal_expected():
        page.get_by_role("button", name="Connect").click()
        page.locator(".errorlist").first.wait_for()
    browsing.look("exchange-accounts-errors")
    # The menu opened on a phone stays on screen.
    page.set_viewport_size({"width": 375, "height": 812})
    page.locator(".account-menu summary").click()
    box = page.locator(".account-menu > ul").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375


# --- Copying, leading, every new page ------------------------------------------------------

COPY_DEADLINE_SECONDS = 45


def _sign_up_and_log_in(browsing, *, email: str, name: str) -> None:
    page = browsing.page
    browsing.open("/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(name)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    link = re.search(r"(/accounts/confirm-email/[^\s]+/)", mail.outbox[-1].body).group(1)
    browsing.open(link)
    page.get_by_role("button", name="Confirm").click()  # confirming signs in
    page.wait_for_url(browsing.base_url + "/")


def _look_also_at_390(browsing, name: str) -> None:
    """`look` (1280 and 375 px), and the 390 px of a current phone as well."""
    browsing.look(name)
    browsing.page.set_viewport_size({"width": 390, "height": 844})
    browsing.page.screenshot(path=str(SCREENSHOTS / f"{name}-390.png"), full_page=True)
    browsing.page.set_viewport_size(DESKTOP)


def _send_signed_signal(base_url: str, strategy, **signal) -> int:
    body = json.dumps({"strategy_id": strategy.pk, "timestamp": int(time.time()), **signal}).encode()
    signature = "sha256=" + hmac.new(strategy.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        base_url + "/webhook", data=body, method="POST", headers={"Content-Type": "application/json", "X-Signature": signature}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def _wait_for_text(browsing, path: str, selector: str, text: str, *, worker) -> None:
    """Reload `path` until `selector` shows `text` (the worker copies the trade meanwhile)."""
    deadline = time.monotonic() + COPY_DEADLINE_SECONDS
    while True:
        browsing.open(path)
        if text in browsing.page.inner_text(selector):
            return
        assert time.monotonic() < deadline, f"no {text!r} within {COPY_DEADLINE_SECONDS}s; worker: {worker.log_text()[-4000:]}"
        browsing.page.wait_for_timeout(500)


def test_a_new_follower_copies_with_a_quarter_of_the_account_and_sees_the_copied_trade(browsing, simulated_binance, celery_worker):
    steady = _leaders()
    # The stored record's trades were made up, fanned out long ago; new signals follow them.
    Strategy.objects.filter(pk=steady.pk).update(last_sequence=steady.trades.aggregate(last=Max("sequence"))["last"])
    steady.trades.update(fanout_done_at=timezone.now())
    steady.refresh_from_db()
    credentials = simulated_binance.create_account(balances={"USDT": "5000"})
    page = browsing.page

    # Sign up, then connect the (simulated) Binance account.
    _sign_up_and_log_in(browsing, email="fred@example.com", name="Fred Follows")
    browsing.open("/settings/exchange-accounts/")
    page.get_by_label("Label").fill("Binance main")
    page.get_by_label("Exchange:", exact=True).select_option("binance")
    page.get_by_label("API key:", exact=True).fill(credentials["api_key"])
    page.get_by_label("API secret:", exact=True).fill(credentials["api_secret"])
    page.get_by_role("button", name="Connect").click()
    page.locator(".message-success").wait_for()

    # The leader's page offers the copy; the copy page states the fees with an example.
    browsing.open(f"/leaders/{steady.pk}/")
    page.get_by_role("link", name="Copy Steady Breakouts").click()
    page.wait_for_url(f"**/leaders/{steady.pk}/copy/")
    assert "15 % of new profit above your high-water mark" in page.inner_text(".fee-terms")

    # Typing a share moves the slider and refreshes the preview...
    page.locator("#id_allocation_percent").fill("30")
    page.wait_for_function("() => (document.querySelector('#preview-capital') || {}).textContent === '1,500.00\u00a0USDT'")
    assert page.locator("#allocation-slider").input_value() == "30"
    # ...and 25 % by the slider: the number follows and the preview shows the copy capital.
    page.locator("#allocation-slider").fill("25")
    assert page.locator("#id_allocation_percent").input_value() == "25"
    page.wait_for_function("() => (document.querySelector('#preview-capital') || {}).textContent === '1,250.00\u00a0USDT'")
    assert page.locator("#preview-remaining").inner_text() == "75.00\u00a0%"
    # The fee section is redrawn at the chosen capital: 29 USD is 2.32 % of 1,250 USDT a month.
    page.wait_for_function("() => document.querySelector('#fees-at-capital').textContent.includes('On 1,250.00\u00a0USDT')")
    assert "2.32\u00a0% of this capital a month" in page.inner_text("#subscription-share")
    browsing.look("copy-start")
    page.get_by_label("I have read the fees above and agree to pay them on this copy.").check()
    page.get_by_role("button", name="Start copying").click()
    page.wait_for_url("**/copies/**")
    assert "You now copy Steady Breakouts with 1,250.00\u00a0USDT" in page.inner_text(".messages")
    copy = Copy.objects.get(follower__email="fred@example.com")
    assert copy.allocation_percent == 25 and copy.copy_capital == Decimal("1250")

    # The leader sends a signed signal; within a deadline My Copies shows the filled trade.
    assert (
        _send_signed_signal(
            browsing.base_url, steady, external_id="sig-1", symbol="BTC/USDT", action="buy", position_size_usd="1000", price="65000"
        )
        == 201
    )
    _wait_for_text(browsing, "/copies/", f"#copy-{copy.pk}", "Filled: bought", worker=celery_worker)
    card = page.inner_text(f"#copy-{copy.pk}")
    assert "Filled: bought 0.00192 BTC/USDT at 65,000." in card
    browsing.look("my-copies")

    # A trade whose share is under Binance's 5 USDT minimum is skipped, and says so in words.
    assert (
        _send_signed_signal(
            browsing.base_url, steady, external_id="sig-2", symbol="BTC/USDT", action="buy", position_size_usd="30", price="65000"
        )
        == 201
    )
    _wait_for_text(browsing, "/copies/", f"#copy-{copy.pk}", "Skipped:", worker=celery_worker)
    assert re.search(
        r"Skipped: your share \(\d+\.\d\d USDT\) was below the exchange's minimum order \(\d+\.\d\d USDT\)\.",
        page.inner_text(f"#copy-{copy.pk}"),
    )
    browsing.look("my-copies-skipped")

    # Pausing says what happens to exits, and swaps the card in place.
    page.locator(f"#copy-{copy.pk} summary", has_text="Pause").click()
    assert "the copy still follows" in page.inner_text(f"#copy-{copy.pk} .confirm-body")
    page.get_by_role("button", name="Pause this copy").click()
    page.locator(f"#copy-{copy.pk} .pill-warning", has_text="Paused").wait_for()
    assert Copy.objects.get(pk=copy.pk).status == Copy.Status.PAUSED
    browsing.look("my-copies-paused")

    # The copy's own page: every outcome in words, the buy's fee labelled as a fee.
    browsing.open(f"/copies/{copy.pk}/")
    trades = page.inner_text("table.copied-trades")
    assert "was below the exchange's minimum order (" in trades and "fee 0." in trades
    assert "below_exchange_minimum" not in page.content() and "P&L \u22120." not in trades
    _look_also_at_390(browsing, "copy-detail")

    # The notifications: one per copied trade (the fill's arrives once its leader trade's copies are done).
    _wait_for_text(browsing, "/notifications/", "main", "Copied: the buy of BTC/USDT by Steady Breakouts", worker=celery_worker)
    notices = page.inner_text("main")
    assert notices.count("Copied: the buy of BTC/USDT by Steady Breakouts") == 1
    assert "Not copied: its buy of BTC/USDT" in notices and "Skipped on 'Binance main': Your share" in notices
    assert "You paused your copy of Steady Breakouts" in notices and "copied_trade" not in page.content()
    _look_also_at_390(browsing, "notifications")

    # ...and from there, what to be told and how.
    page.get_by_role("link", name="choose what you are told, and how").click()
    page.wait_for_url("**/settings/notifications/")
    assert page.get_by_label("A leader's trade was copied (filled): by email").is_checked() is False
    assert page.get_by_label("A copy's stop-loss paused it and closed its positions: by email").is_checked()
    page.get_by_label("A leader's trade was copied (filled): in the app").uncheck()
    page.get_by_role("button", name="Save").click()
    page.locator(".message-success").wait_for()
    assert page.get_by_label("A leader's trade was copied (filled): in the app").is_checked() is False
    _look_also_at_390(browsing, "notification-settings")


def test_a_leader_creates_a_strategy_and_sees_the_secret_once(browsing):
    make_member("lena")
    _log_in(browsing, "lena")
    page = browsing.page

    page.get_by_role("link", name="Lead", exact=True).click()
    page.wait_for_url("**/leader/strategies/")
    page.get_by_label("Name").fill("Night Owl")
    page.get_by_label("Declared capital (USDT, signals only)").fill("5000")
    page.get_by_role("button", name="Create strategy").click()
    secret = page.get_by_role("textbox", name="Webhook secret").input_value()
    assert secret and "shown only this once" in page.inner_text(".secret-once")
    assert f"SECRET='{secret}'" in page.inner_text("pre")
    browsing.look("strategy-created")

    browsing.open("/leader/strategies/")
    assert secret not in page.content() and "Night Owl" in page.inner_text("main")
    browsing.look("strategies")


def test_a_trader_applies_a_curator_approves_in_admin_the_trader_reads_the_reason_and_is_listed_as_new(browsing):
    paula = make_member("paula", "Paula Trades")
    make_leader(paula, name="Paula's BTC Breakouts", days=6, closed_trades=3)  # a record too short to rank
    make_curator("cora")
    page = browsing.page
    browsing.open("/")
    assert "Paula's BTC Breakouts" in page.inner_text("main")  # no provider yet: a free leader is listed

    # Paula applies on the provider page.
    _log_in(browsing, "paula")
    page.locator(".account-menu summary").click()
    page.get_by_role("link", name="Provider").click()
    page.get_by_label("Name on the marketplace").fill("Paula's Breakouts")
    page.get_by_label("How you trade").fill("BTC breakouts, one position at a time, stop 2 % below entry.")
    page.get_by_role("button", name="Send application").click()
    page.locator(".message-success").wait_for()
    assert "Waiting for a curator" in page.inner_text("main")
    browsing.look("provider-pending")
    browsing.open("/")
    assert "Paula's BTC Breakouts" not in page.inner_text("main")  # under review: not listed
    provider = SignalProvider.objects.get(user__username="paula")

    # The curator decides on the provider's admin page, with a reason.
    page.context.clear_cookies()
    _admin_log_in(browsing, "cora")
    browsing.open(f"/admin/marketplace/signalprovider/{provider.pk}/change/")
    page.fill("#id_decision_reason", "Clear risk rules; the record matches the exchange.")
    page.click("#decide-approve")
    page.wait_for_selector(".messagelist .success")

    # Paula reads the decision and its reason.
    page.context.clear_cookies()
    _log_in(browsing, "paula")
    browsing.open("/provider/")
    status = page.inner_text("main")
    assert "Approved" in status and "Clear risk rules; the record matches the exchange." in status
    browsing.look("provider-approved")

    # Approved, Paula's strategy is on the leaderboard again, among the new leaders (short record).
    browsing.open("/")
    assert "Paula's BTC Breakouts" in page.inner_text("main").split("New leaders", 1)[1]


def test_a_follower_sees_the_subscription_against_the_capital_and_then_gross_fees_and_net(browsing, simulated_binance):
    import calendar
    from decimal import ROUND_HALF_UP

    from exchanges.services import exchange_account_create

    steady = _leaders()  # Alice: 15 % of new profit + 29 USD a month
    member = make_member("mia", "Mia")
    exchange_account_create(owner=member, exchange_id="paper", label="Practice", starting_balance={"USDT": Decimal("4000")})
    page = browsing.page
    _log_in(browsing, "mia")

    # The form states the subscription against the capital the slider chooses, worked through.
    browsing.open(f"/leaders/{steady.pk}/copy/")
    page.wait_for_function("() => document.querySelector('#fees-at-capital').textContent.includes('On 400.00\u00a0USDT')")
    page.locator("#id_allocation_percent").fill("25")
    page.wait_for_function("() => document.querySelector('#fees-at-capital').textContent.includes('On 1,000.00\u00a0USDT')")
    fees = page.inner_text("#fees-at-capital")
    assert "The subscription, 29.00\u00a0USD a month, is 2.90\u00a0% of this capital a month" in fees
    worked = page.inner_text("#worked-example")
    assert "+100.00\u00a0USD" in worked and "\u221215.00\u00a0USD" in worked and "\u221229.00\u00a0USD" in worked
    assert "+56.00\u00a0USD" in worked
    assert "must make 3.41\u00a0% a month" in page.inner_text("#break-even")
    assert page.inner_text("#preview-subscription") == "2.90\u00a0% a month"
    browsing.look("copy-start-fees")

    # Without the consent nothing starts: the errors are listed at the top, and have the focus.
    with browsing.refusal_expected():
        page.get_by_role("button", name="Start copying").click()
        page.locator("#error-summary").wait_for()
    # `autofocus` is applied by the browser at its next rendering step after the page loads,
    # not as the element appears: polled (a deadline), as a reader's focus would arrive.
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'error-summary'", timeout=10_000)
    assert "I have read the fees above" in page.inner_text("#error-summary")
    browsing.look("copy-start-errors")
    page.get_by_label("I have read the fees above and agree to pay them on this copy.").check()
    page.get_by_role("button", name="Start copying").click()
    page.wait_for_url("**/copies/**")
    copy = Copy.objects.get(follower=member)
    assert copy.copy_capital == Decimal("1000")

    # A closed trade made 80.00 USDT: 15 % of it and the days copied so far are due this month.
    CopiedTrade.objects.create(
        copy=copy,
        sequence=1,
        follower=member,
        leader_user=steady.owner,
        strategy=steady,
        symbol="BTC/USDT",
        side="sell",
        effect="close",
        status="filled",
        filled_amount=Decimal("0.005"),
        average_price=Decimal("66000"),
        pnl_quote=Decimal("80"),
        quote_currency="USDT",
        quote_rate=Decimal("1"),
        pnl_billing=Decimal("80"),
        client_order_id="c-net-1",
        finished_at=timezone.now(),
    )
    Copy.objects.filter(pk=copy.pk).update(realized_pnl=Decimal("80"))
    today = timezone.now()
    subscription = (Decimal("29") / calendar.monthrange(today.year, today.month)[1]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    fees_due = Decimal("12.00") + subscription
    browsing.open("/copies/")
    card = page.inner_text(f"#copy-{copy.pk}")
    assert "+80.00\u00a0USDT" in card
    assert f"{fees_due}\u00a0USD" in card and f"0.00\u00a0USD invoiced · {fees_due}\u00a0USD this month so far" in card
    assert f"+{Decimal('80') - fees_due}\u00a0USD" in card
    totals = page.inner_text(".stats")
    assert f"Net realised, after fees\n+{Decimal('80') - fees_due}\u00a0USD" in totals
    browsing.look("my-copies-net")

    # Coming back to the form, the copier is told at once.
    browsing.open(f"/leaders/{steady.pk}/copy/")
    page.wait_for_url(f"**/copies/{copy.pk}/")
    assert "You already copy this strategy" in page.inner_text(".messages")
    browsing.look("copy-detail-already")

    # The leader's page shows what copiers kept beside the leader's own return.
    browsing.open(f"/leaders/{steady.pk}/")
    kept = page.inner_text("#copiers-kept")
    assert "What copiers kept, 30 days" in kept and "median of 1 copier, after fees" in kept
    browsing.look("leader-copiers-kept")


def test_a_member_reads_that_a_new_password_ends_the_tokens_and_an_address_with_a_bad_id_says_why(browsing):
    make_member("theo", "Theo")
    page = browsing.page
    _log_in(browsing, "theo")

    browsing.open("/settings/tokens/")
    assert "Changing or resetting your password revokes every token at once." in page.inner_text("main")
    browsing.look("api-tokens-empty")
    with browsing.refusal_expected():
        response = page.goto(browsing.base_url + "/leaders/%D9%A3/")  # an Arabic-Indic three
        assert response.status == 400
        assert "The id in this address must be a whole number from 1 to" in page.inner_text("main")
        browsing.look("bad-id")
