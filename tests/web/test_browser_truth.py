"""What the pages say is what the system does, in a real browser (Debian's chromium): the
leaderboard's order is the API's for every figure, a signal-only leader's record takes the
market's price (a price 6 % off is refused), and a curator decides from the top of the
provider's page. Screenshots at 1280 and 375 px go to screenshots/ (see conftest.py)."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services.copies import copy_start
from marketplace.models import SignalProvider
from marketplace.selectors import LEADERBOARD_SORTS
from tests.copytrade import signal_only_strategy, simulator_account
from tests.marketplace.support import make_curator
from tests.web.support import make_leader, make_member, make_provider, rate
from tests.web.test_browser import _admin_log_in, _log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FILL_DEADLINE_SECONDS = 45


def _names_on_the_page(page) -> list[str]:
    return page.locator("#leaderboard .leader-name").all_inner_texts()


def test_the_leaderboard_sorted_by_each_figure_lists_in_the_apis_order(browsing):
    alice, bob, quant = make_member("alice", "Alice Trades"), make_member("bob", "Bob"), make_member("platform", "Platform Quant")
    make_provider(alice, performance_percent="15", subscription="29")
    make_provider(bob, performance_percent="20")
    steady = make_leader(alice, name="Steady", total_return=0.08, sharpe=2.1, max_drawdown=3.0, copiers=5, verified=True)
    rocket = make_leader(bob, name="Rocket", total_return=0.30, sharpe=0.9, max_drawdown=25.0, copiers=40)
    make_leader(quant, name="Quant AI", kind="ai", total_return=0.12, sharpe=1.4, max_drawdown=9.0, copiers=12, override="10")
    make_leader(bob, name="Fresh", days=5, closed_trades=2, total_return=0.5, copiers=33)
    rate(steady.owner.signal_provider, make_member("carol", "Carol"), stars=5)
    rate(rocket.owner.signal_provider, make_member("dave", "Dave"), stars=3)
    page = browsing.page
    browsing.open("/")

    # The board opens sorted by return; then the visitor picks each other figure in "Sort by".
    assert page.get_by_label("Sort by").input_value() == "return"
    for sort in LEADERBOARD_SORTS:
        if sort != "return":
            # (htmx swaps the board in place and puts the choice in the address)
            page.get_by_label("Sort by").select_option(sort)
            page.wait_for_url(f"**sort={sort}**")
        page.wait_for_function(
            "sort => document.querySelector('#leaderboard caption') && document.querySelector('#leaderboard caption')"
            ".textContent.toLowerCase().includes(sort)",
            arg=page.get_by_label("Sort by").locator("option:checked").inner_text().lower(),
        )
        api = json.loads(page.request.get(f"{browsing.base_url}/api/copy-trading/top?sort={sort}&window=30d").text())

        # then the page lists the leaders in the API's order
        assert _names_on_the_page(page) == [row["name"] for row in api["results"]], sort
        if sort in ("sharpe", "followers"):
            browsing.look(f"leaderboard-by-{sort}")

    # A ratio on a week of returns is blank, and says why on hover.
    page.get_by_label("Period").select_option("7d")
    page.wait_for_url("**window=7d**")
    blank = page.locator("#leaderboard td[data-label='Sharpe'] span[title]").first
    assert "shown from 20 daily returns and 5 closed trades" in blank.get_attribute("title")


def _signed(strategy, **signal) -> tuple[bytes, str]:
    body = json.dumps({"strategy_id": strategy.pk, "symbol": "BTC/USDT", "timestamp": int(time.time()), **signal}).encode()
    signature = "sha256=" + hmac.new(strategy.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, signature


def _post_signal(base_url: str, strategy, **signal) -> tuple[int, dict]:
    body, signature = _signed(strategy, **signal)
    request = urllib.request.Request(
        base_url + "/webhook", data=body, method="POST", headers={"Content-Type": "application/json", "X-Signature": signature}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_a_signal_only_leaders_price_six_percent_off_is_refused_and_one_without_is_recorded_at_the_market(
    browsing, simulated_binance, celery_worker
):
    leader = make_member("lena", "Lena Signals")
    strategy = signal_only_strategy(leader, name="Lena's Signals")
    follower = make_member("fred", "Fred Follows")
    account = simulator_account(simulated_binance, follower, label="Binance main")
    copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    simulated_binance.set_price(symbol="BTC/USDT", price="68857")

    # when the leader sends a price 6 % under the market's: refused, both prices named, nothing recorded
    status, refused = _post_signal(browsing.base_url, strategy, external_id="typo", action="buy", amount="0.05", price="64725.58")
    assert status == 400
    assert "64725.58" in refused["message"] and "68857" in refused["message"], refused
    assert not LeaderTrade.objects.exists()

    # and then without a price: recorded at the market's, and the follower's copy is filled
    status, recorded = _post_signal(browsing.base_url, strategy, external_id="entry", action="buy", amount="0.05")
    assert status == 201, recorded
    assert LeaderTrade.objects.get().price == Decimal("68857")
    deadline = time.monotonic() + FILL_DEADLINE_SECONDS
    while not CopiedTrade.objects.filter(copy=copy, status=CopiedTrade.Status.FILLED).exists():
        assert time.monotonic() < deadline, f"no fill within {FILL_DEADLINE_SECONDS}s; worker: {celery_worker.log_text()[-4000:]}"
        time.sleep(0.2)

    # The leader's page of strategies shows the market's price and that none was sent.
    _log_in(browsing, "lena")
    browsing.open("/leader/strategies/")
    signals = browsing.page.inner_text(f"#strategy-{strategy.pk} table")
    assert "68,857" in signals and "none sent" in signals
    assert '"price"' not in browsing.page.inner_text(f"#curl-{strategy.pk}")
    reference = browsing.page.inner_text(".signal-reference")
    for action in ('"action": "buy", "symbol": "BTC/USDT", "amount"', '"position_size_usd"', '"fraction"', '"action": "close"'):
        assert action in reference
    assert "more than 2 % from the market's is refused" in reference
    browsing.look("strategies-market-price")

    # The follower's copy shows the fill.
    browsing.page.context.clear_cookies()
    _log_in(browsing, "fred")
    browsing.open("/copies/")
    assert "Filled: bought" in browsing.page.inner_text(f"#copy-{copy.pk}")
    browsing.look("my-copies-market-price")


def test_a_curator_decides_from_the_top_of_the_providers_page(browsing):
    paula = make_member("paula", "Paula Trades")
    make_leader(paula, name="Paula's BTC Breakouts", days=6, closed_trades=3)
    provider = make_provider(paula)
    SignalProvider.objects.filter(pk=provider.pk).update(status=SignalProvider.Status.PENDING)
    make_curator("cora")
    page = browsing.page

    _admin_log_in(browsing, "cora")
    browsing.open(f"/admin/marketplace/signalprovider/{provider.pk}/change/")

    # the decision sits above the profile and the record, far from the form's own buttons
    decision = page.locator("#provider-decision-panel").bounding_box()
    assert decision["y"] < page.locator("#provider-strategies").bounding_box()["y"]
    assert decision["y"] < page.locator("fieldset.module").nth(1).bounding_box()["y"]
    assert decision["y"] + decision["height"] < 900  # on the first screen at 1280 x 900
    assert decision["y"] < page.locator(".submit-row").first.bounding_box()["y"]
    browsing.look("provider-decision-on-top")

    page.fill("#id_decision_reason", "Clear risk rules; the record matches the exchange.")
    page.click("#decide-approve")
    page.wait_for_selector(".messagelist .success")
    assert SignalProvider.objects.get(pk=provider.pk).status == SignalProvider.Status.APPROVED
    browsing.look("provider-approved-from-top")
