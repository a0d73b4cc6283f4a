"""The public pages: the leaderboard and a leader's profile, for visitors without an account."""

import re

import pytest

from copytrade.models import Strategy
from marketplace.models import TradeVerification
from marketplace.selectors import LEADERBOARD_SORTS
from tests.web.support import check_trades, closed_trade, make_leader, make_member, make_provider, rate, verify

pytestmark = pytest.mark.django_db


def _rows(html: str, section: str) -> list[str]:
    """Leader names in table order, in the ranked part (before "New leaders") or the new part."""
    ranked, _, new = html.partition('id="new-leaders"')
    return re.findall(r'class="leader-name" href="/leaders/\d+/">([^<]+)<', ranked if section == "ranked" else new)


@pytest.fixture
def board(db):
    alice = make_member("alice", "Alice Trades")
    bob = make_member("bob", "Bob")
    ai_owner = make_member("platform", "Platform Quant")
    make_provider(alice, performance_percent="15", subscription="29")
    make_provider(bob, performance_percent="20", display_name="Bob's signals")
    make_provider(ai_owner, performance_percent="0", display_name="Platform Quant")  # approved: its AI strategy takes a fee
    return {
        "steady": make_leader(alice, name="Steady", total_return=0.08, sharpe=2.1, max_drawdown=3.0, copiers=5, verified=True),
        "rocket": make_leader(bob, name="Rocket", total_return=0.30, sharpe=0.9, max_drawdown=25.0, copiers=40),
        "quant": make_leader(
            ai_owner, name="Quant AI", kind=Strategy.Kind.AI, total_return=0.12, sharpe=1.4, max_drawdown=9.0, copiers=12, override="10"
        ),
        "fresh": make_leader(bob, name="Fresh", days=5, closed_trades=2, total_return=0.5),
    }


def test_a_visitor_sees_the_leaderboard_without_logging_in(client, board):
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert _rows(html, "ranked") == ["Rocket", "Quant AI", "Steady"]  # by return, the default
    assert _rows(html, "new") == ["Fresh"]


def test_a_short_record_is_listed_as_new_and_never_ranked(client, board, settings):
    settings.LEADERBOARD_MIN_DAYS = 200

    html = client.get("/").content.decode()

    assert _rows(html, "ranked") == []
    assert sorted(_rows(html, "new")) == ["Fresh", "Quant AI", "Rocket", "Steady"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=sharpe", ["Steady", "Quant AI", "Rocket"]),
        ("sort=max_drawdown", ["Steady", "Quant AI", "Rocket"]),
        ("sort=followers", ["Rocket", "Quant AI", "Steady"]),
        ("sort=rating", ["Steady", "Rocket", "Quant AI"]),
        ("program=ai", ["Quant AI"]),
        ("program=marketplace", ["Rocket", "Steady"]),
    ],
)
def test_the_leaderboard_sorts_and_filters(client, board, query, expected):
    follower = make_member("carol", "Carol")
    rate(board["steady"].owner.signal_provider, follower, stars=5)
    rate(board["rocket"].owner.signal_provider, make_member("dave", "Dave"), stars=3)

    html = client.get(f"/?{query}").content.decode()

    assert _rows(html, "ranked") == expected


@pytest.mark.parametrize("sort", list(LEADERBOARD_SORTS))
@pytest.mark.parametrize("window", ["30d", "all"])
def test_the_leaderboard_page_lists_in_the_apis_order_for_every_sort(client, board, sort, window):
    rate(board["steady"].owner.signal_provider, make_member("carol", "Carol"), stars=5)
    make_leader(board["fresh"].owner, name="Fresher", days=3, closed_trades=1, total_return=0.2, copiers=9)

    html = client.get(f"/?sort={sort}&window={window}").content.decode()
    api = client.get("/api/copy-trading/top", {"sort": sort, "window": window}).json()["results"]

    assert _rows(html, "ranked") + _rows(html, "new") == [row["name"] for row in api]


def test_a_ratio_on_too_short_a_record_is_blank_and_says_why(client, board):
    html = client.get("/?sort=sharpe&window=7d").content.decode()

    # seven daily returns are fewer than a ratio needs: "—", with the reason on hover
    assert "2.10" not in html
    assert (
        'title="Ratios (Sharpe, Sortino, Calmar, profit factor) are shown from 20 daily returns and 5 closed trades; this period has 7 and 7."'
        in html
    )


def test_the_verified_filter_keeps_leaders_whose_checked_trades_all_matched(client, board):
    # Rocket has no badge (too short a checked record for it) but every checked trade matched;
    # Quant AI has one that did not; Fresh none checked.
    check_trades(board["steady"], TradeVerification.Status.VERIFIED)
    check_trades(
        board["rocket"], TradeVerification.Status.VERIFIED, TradeVerification.Status.VERIFIED, TradeVerification.Status.UNAVAILABLE
    )
    check_trades(board["quant"], TradeVerification.Status.VERIFIED, TradeVerification.Status.MISMATCH)

    html = client.get("/?verified=on").content.decode()

    assert _rows(html, "ranked") == ["Rocket", "Steady"]


@pytest.mark.parametrize(
    ("sort", "label", "expected", "steady_shows"),
    [
        ("sortino", "Sortino", ["Quant AI", "Steady", "Rocket"], "2.50"),
        ("calmar", "Calmar", ["Rocket", "Steady", "Quant AI"], "1.10"),
        ("profit_factor", "Profit factor", ["Steady", "Rocket", "Quant AI"], "∞"),
    ],
)
def test_the_leaderboard_sorts_on_sortino_calmar_and_profit_factor_and_shows_that_ratio(client, board, sort, label, expected, steady_shows):
    from marketplace.models import StrategyMetrics

    for key, sortino, calmar, profit_factor, infinite in [
        ("steady", 2.5, 1.1, None, True),
        ("rocket", 0.7, 4.0, 3.2, False),
        ("quant", 3.1, 0.4, 1.3, False),
    ]:
        StrategyMetrics.objects.filter(strategy=board[key]).update(
            sortino_ratio=sortino, calmar_ratio=calmar, profit_factor=profit_factor, profit_factor_infinite=infinite
        )

    html = client.get(f"/?sort={sort}").content.decode()

    assert _rows(html, "ranked") == expected
    assert f'<th scope="col" class="num">{label}</th>' in html
    steady = html[html.index(">Steady<") :].split("</tr>")[0]
    assert f'data-label="{label}">{steady_shows}</td>' in steady


def test_a_leader_profile_shows_every_ratio_per_period(client, board):
    from marketplace.models import StrategyMetrics

    StrategyMetrics.objects.filter(strategy=board["rocket"], window="30d").update(sortino_ratio=1.75, calmar_ratio=0.5, profit_factor=2.25)

    html = client.get(f"/leaders/{board['rocket'].pk}/").content.decode()

    month = html[html.index(">30 days<") :].split("</tr>")[0]
    assert 'data-label="Sortino">1.75<' in month and 'data-label="Calmar">0.50<' in month and 'data-label="Profit factor">2.25<' in month
    assert "30 days, " in month  # what the figures cover


def test_a_leader_profile_blanks_a_periods_ratios_on_too_short_a_record_and_says_why(client, board):
    html = client.get(f"/leaders/{board['rocket'].pk}/").content.decode()

    # seven daily returns are fewer than a ratio needs: "—" with the reason, as on the board
    week = html[html.index(">7 days<") :].split("</tr>")[0]
    assert 'data-label="Sharpe"><abbr title="Ratios (Sharpe, Sortino, Calmar, profit factor) are shown from 20 daily returns' in week
    assert "0.90" not in week
    month = html[html.index(">30 days<") :].split("</tr>")[0]
    assert 'data-label="Sharpe">0.90<' in month


def test_each_row_says_what_its_figures_cover(client, board):
    html = client.get("/?window=7d").content.decode()

    steady = html[html.index(">Steady<") :].split("</tr>")[0]
    assert "+8.0\u00a0%" in steady
    assert "7 days · 7 trades" in steady
    assert '<svg class="spark spark-up"' in steady


def test_rows_show_display_names_never_usernames_or_emails(client, board):
    html = client.get("/").content.decode()

    assert "Alice Trades" in html and "Platform Quant" in html
    for private in ("alice", "bob", "platform", "@example.com"):
        assert private not in html.replace("Alice Trades", "")


def test_fee_terms_are_the_billed_terms_in_words(client, board):
    html = client.get("/").content.decode()

    steady = html[html.index(">Steady<") :].split("</tr>")[0]
    quant = html[html.index(">Quant AI<") :].split("</tr>")[0]
    assert "15 % of new profit above your high-water mark" in steady
    assert "+ 29.00 USD a month" in steady
    assert "10 % of new profit above your high-water mark" in quant
    assert "a month" not in quant


@pytest.mark.parametrize("query", ["", "?window=", "?window=&sort="])
def test_the_filters_show_the_defaults_the_page_applies(client, board, query):
    html = client.get(f"/{query}").content.decode()

    assert '<option value="30d" selected>' in html
    assert '<option value="return" selected>' in html
    assert "figures for 30 days" in html


def test_an_unknown_filter_gets_a_400_and_says_so(client, board):
    response = client.get("/?sort=luck")

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_a_leader_profile_shows_charts_metrics_trades_and_ratings(client, board):
    steady = board["steady"]
    trade = closed_trade(steady, pnl="125.50", price="64250.5")
    verify(trade)
    rate(steady.owner.signal_provider, make_member("erin", "Erin"), stars=4, comment="Calm and steady.")

    response = client.get(f"/leaders/{steady.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "by <strong>Alice Trades</strong>" in html
    assert html.count('<svg class="chart') == 2
    assert "Date (UTC)" in html and "Equity (USDT)" in html and "Drawdown (%)" in html
    assert "120 days" in html  # the whole record's coverage
    assert "64,250.5" in html and "+125.50\u00a0USDT" in html
    assert "Erin" in html and "Calm and steady." in html and "erin" not in html
    assert "15 % of new profit above your high-water mark" in html
    assert "Checked: 1 matched the exchange, 0 did not" in html
    assert "Sign in to copy" in html
    # what pausing a copy does, before anyone copies
    assert "Pausing a copy stops new entries; it still follows the leader's reductions and closes of what it holds" in html


def test_the_copy_button_is_not_shown_to_a_logged_in_follower_until_the_copy_flow_exists(client, board):
    client.force_login(make_member("frank", "Frank"))

    html = client.get(f"/leaders/{board['steady'].pk}/").content.decode()

    assert "Sign in to copy" not in html
    assert "15 % of new profit above your high-water mark" in html


def test_an_open_verification_flag_is_shown_as_under_review(client, board):
    verify(closed_trade(board["rocket"], pnl="-10"), status=TradeVerification.Status.MISMATCH)

    html = client.get(f"/leaders/{board['rocket'].pk}/").content.decode()

    assert "Under review" in html


def test_a_private_strategy_is_not_found_except_by_its_owner(client, board):
    hidden = board["steady"]
    Strategy.objects.filter(pk=hidden.pk).update(is_public_leader=False)

    assert client.get(f"/leaders/{hidden.pk}/").status_code == 404
    client.force_login(board["rocket"].owner)
    assert client.get(f"/leaders/{hidden.pk}/").status_code == 404
    client.force_login(hidden.owner)
    assert client.get(f"/leaders/{hidden.pk}/").status_code == 200


def test_a_missing_leader_is_the_404_page(client):
    response = client.get("/leaders/999999/")

    assert response.status_code == 404
    assert "Nothing here" in response.content.decode()


def test_pages_carry_a_content_security_policy_without_inline_scripts_or_styles(client, board):
    policy = client.get("/")["Content-Security-Policy"]

    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
