"""Per position take-profit and stop-loss (from the copy's own entry, watched by the
mark-to-market pass, placed as exits the slippage limit never holds back) and a copy's caps on
open positions and total exposure, over the wire to the loopback simulator."""

from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade, Copy, FollowerPosition, Strategy
from copytrade.reasons import copied_trade_reason_text, position_exit_text
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from copytrade.services.marking import copies_mark_to_market
from core.models import Notification
from tests.copytrade import market_moves_to, submit
from tests.copytrade.test_execution import run_engine, sim, start_copy, strategy  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

BASE = "/api/copy-trading"


def _kinds(copy) -> list[tuple[str, str, str, str]]:
    return [(t.symbol, t.kind, t.status, t.reason) for t in CopiedTrade.objects.filter(copy=copy).order_by("sequence")]


def _mark(capture) -> None:
    with capture(execute=True):
        copies_mark_to_market()
    run_engine()


def test_a_position_reaching_its_take_profit_is_closed_at_market_and_the_copy_carries_on(
    sim, strategy, follower, django_capture_on_commit_callbacks
):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"), take_profit_percent=Decimal("5"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    sim.set_price(symbol="BTC/USDT", price="68000")  # +4.6 %: not yet
    _mark(django_capture_on_commit_callbacks)
    assert len(_kinds(copy)) == 1

    sim.set_price(symbol="BTC/USDT", price="68300")  # +5.08 % from the copy's entry
    _mark(django_capture_on_commit_callbacks)

    assert _kinds(copy) == [("BTC/USDT", "mirror", "filled", ""), ("BTC/USDT", "take_profit", "filled", "")]
    assert [order["side"] for order in sim.orders(api_key=copy.exchange_account.api_key)] == ["BUY", "SELL"]
    assert FollowerPosition.objects.get(copy=copy).quantity == 0
    copy.refresh_from_db()
    assert copy.status == Copy.Status.ACTIVE and copy.realized_pnl > 0
    close = CopiedTrade.objects.get(copy=copy, kind="take_profit")
    assert position_exit_text(kind=close.kind, symbol=close.symbol, detail=close.reason_detail) == (
        "your take-profit of 5 % on BTC/USDT was reached: the price (68,300) had moved 5.08 % in its favour from the copy's entry (65,000)"
    )
    notice = Notification.objects.get(user=follower, kind=Notification.Kind.POSITION_CLOSED)
    assert "Your take-profit of 5 % on BTC/USDT was reached" in notice.body


def test_a_stop_loss_per_position_is_an_exit_the_slippage_limit_never_holds_back(
    sim, strategy, follower, django_capture_on_commit_callbacks
):
    copy = start_copy(
        sim, follower, strategy, allocation_percent=Decimal("50"), stop_loss_percent=Decimal("5"), max_slippage_percent=Decimal("0")
    )
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    sim.set_price(symbol="BTC/USDT", price="61000")  # −6.15 %
    _mark(django_capture_on_commit_callbacks)

    assert _kinds(copy)[-1] == ("BTC/USDT", "position_stop", "filled", "")
    assert FollowerPosition.objects.get(copy=copy).quantity == 0


def test_a_paused_copy_still_closes_a_position_at_its_stop_loss_and_only_once(sim, strategy, follower, django_capture_on_commit_callbacks):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"), stop_loss_percent=Decimal("5"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    Copy.objects.filter(pk=copy.pk).update(status=Copy.Status.PAUSED, pause_reason="follower")

    sim.set_price(symbol="BTC/USDT", price="60000")
    with django_capture_on_commit_callbacks(execute=False):
        copies_mark_to_market()
        copies_mark_to_market()  # the close is still in flight: no second one
    run_engine()

    assert [kind for _, kind, _, _ in _kinds(copy)] == ["mirror", "position_stop"]
    assert FollowerPosition.objects.get(copy=copy).quantity == 0


def _eth_buy(strategy: Strategy, external_id: str, amount: str):
    market_moves_to("3500", symbol="ETH/USDT")
    signal = LeaderSignal(external_id=external_id, symbol="ETH/USDT", action="buy", price=Decimal("3500"), amount=Decimal(amount))
    return leader_signal_submit(strategy_id=strategy.pk, signal=signal, source=Strategy.Source.API)


def test_past_the_most_open_positions_a_new_market_is_skipped_and_increases_still_follow(sim, strategy, follower):
    sim.set_price(symbol="ETH/USDT", price="3500")
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"), max_open_positions=1)

    submit(strategy, "t1", "buy", amount="1", price="65000")
    _eth_buy(strategy, "e1", "10")
    submit(strategy, "t2", "buy", amount="0.5", price="65000")
    run_engine()

    assert _kinds(copy) == [
        ("BTC/USDT", "mirror", "filled", ""),
        ("ETH/USDT", "mirror", "skipped", "max_open_positions"),
        ("BTC/USDT", "mirror", "filled", ""),
    ]
    skipped = CopiedTrade.objects.get(copy=copy, symbol="ETH/USDT")
    assert copied_trade_reason_text(skipped) == "your copy already held 1 open positions, the most you allow (1)"


def test_an_entry_past_the_total_exposure_is_skipped_and_the_close_still_follows(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"), max_exposure=Decimal("4000"))

    submit(strategy, "t1", "buy", amount="1", price="65000")  # 3,250 USDT
    submit(strategy, "t2", "buy", amount="1", price="65000")  # would reach about 6,500
    submit(strategy, "t3", "close", price="65000")
    run_engine()

    assert [(status, reason) for _, _, status, reason in _kinds(copy)] == [
        ("filled", ""),
        ("skipped", "max_exposure"),
        ("filled", ""),
    ]
    skipped = CopiedTrade.objects.filter(copy=copy).order_by("sequence")[1]
    assert copied_trade_reason_text(skipped).startswith("the order (")
    assert "past the 4,000.00 USDT you allow" in copied_trade_reason_text(skipped)
    assert FollowerPosition.objects.get(copy=copy).quantity == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"take_profit_percent": "0"},
        {"stop_loss_percent": "100"},
        {"stop_loss_percent": "-1"},
        {"max_open_positions": 0},
        {"max_exposure": "0"},
    ],
)
def test_limits_out_of_bounds_are_refused_with_400_and_nothing_changes(client_for, sim, strategy, follower, fields):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("20"))
    before = Copy.objects.filter(pk=copy.pk).values().get()

    response = client_for(follower).patch(f"{BASE}/copies/{copy.pk}", fields, format="json")

    assert response.status_code == 400, response.json()
    assert list(fields)[0] in str(response.json())
    assert Copy.objects.filter(pk=copy.pk).values().get() == before


def test_the_check_says_where_each_open_position_would_close(client_for, sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    response = client_for(follower).post(
        f"{BASE}/copies/{copy.pk}/check", {"take_profit_percent": "10", "stop_loss_percent": "4", "max_open_positions": 3}, format="json"
    )

    assert response.json()["changes"] == [
        "A take-profit of 10 % from the copy's own entry watches every position from the next price check, your open ones "
        "too: BTC/USDT closes at 71,500",
        "A stop-loss of 4 % from the copy's own entry watches every position from the next price check, your open ones "
        "too: BTC/USDT closes at 62,400",
        "At most 3 open positions from the next new position",
    ]
