"""A leader on Binance, followers on Binance and on Bybit (both simulated, over the wire): the
leader's market maps to each follower's exchange by ccxt's unified symbol, sizes follow each
exchange's own precision, and a market the follower's exchange does not list is skipped
with a reason in words. The engine runs in this process (as test_execution.py does); the
worker-kill fan-out to 100 followers on both exchanges is test_cross_exchange_worker.py."""

from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade, FollowerPosition, Strategy
from copytrade.reasons import copied_trade_reason_text
from copytrade.services.copies import copy_start
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from exchanges.services import exchange_account_create
from tests.copytrade import market_moves_to, signal_only_strategy, simulator_account, submit
from tests.copytrade.test_execution import run_engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def sims(simulated_binance, simulated_bybit, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    return simulated_binance, simulated_bybit


def prices_move_to(sims, price: str, symbol: str = "BTC/USDT") -> None:
    sims[1].set_price(symbol=symbol, price=price)
    market_moves_to(price, symbol=symbol)


def bybit_account(bybit, user, *, usdt: str = "1000"):
    credentials = bybit.create_account(balances={"USDT": usdt})
    return exchange_account_create(
        owner=user, exchange_id="bybit", label="Bybit", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
    )


def orders_of(sim, copy) -> list[tuple[str, Decimal]]:
    return [(o["side"], Decimal(o["amount"])) for o in sim.orders(api_key=copy.exchange_account.api_key)]


def rows_of(copy) -> list[tuple]:
    return [(t.effect, t.status, t.reason, t.filled_amount) for t in CopiedTrade.objects.filter(copy=copy).order_by("sequence")]


def test_a_binance_leaders_entry_partial_exit_and_close_are_copied_on_both_exchanges_at_each_ones_precision(
    sims, owner, follower, stranger
):
    binance, bybit = sims
    strategy = signal_only_strategy(owner, capital="100000")
    on_binance = copy_start(
        follower=stranger,
        strategy_id=strategy.pk,
        exchange_account_id=simulator_account(binance, stranger, usdt="1000").pk,
        sizing_mode="fixed",
        fixed_notional="50",
    )
    on_bybit = copy_start(
        follower=follower,
        strategy_id=strategy.pk,
        exchange_account_id=bybit_account(bybit, follower).pk,
        sizing_mode="fixed",
        fixed_notional="50",
    )

    # when the leader opens, halves and closes BTC/USDT on Binance
    for external_id, action, size in (("x1", "buy", {"amount": "0.05"}), ("x2", "sell", {"fraction": "0.5"}), ("x3", "close", {})):
        prices_move_to(sims, "65000")
        submit(strategy, external_id, action, price="65000", **size)
        run_engine()

    # then 50 USDT at 65,000 is 0.00076 BTC in Binance's 0.00001 steps and 0.0007 in Bybit's 0.0001
    assert orders_of(binance, on_binance) == [("BUY", Decimal("0.00076")), ("SELL", Decimal("0.00038")), ("SELL", Decimal("0.00038"))]
    assert orders_of(bybit, on_bybit) == [("BUY", Decimal("0.0007")), ("SELL", Decimal("0.0003")), ("SELL", Decimal("0.0004"))]
    assert rows_of(on_bybit) == [
        ("open", "filled", "", Decimal("0.0007")),
        ("reduce", "filled", "", Decimal("0.0003")),
        ("close", "filled", "", Decimal("0.0004")),
    ]
    assert Decimal(bybit.account(api_key=on_bybit.exchange_account.api_key)["balances"]["BTC"]["free"]) == 0
    # one order per follower per leader trade, on each exchange, under the copy's own client order ids
    assert set(bybit.order_counts().values()) == {1} and set(binance.order_counts().values()) == {1}
    assert set(bybit.order_counts()) == set(CopiedTrade.objects.filter(copy=on_bybit).values_list("client_order_id", flat=True))


def test_a_market_the_followers_exchange_does_not_list_is_skipped_with_a_reason_in_words(sims, owner, follower, stranger):
    binance, bybit = sims
    strategy = signal_only_strategy(owner, capital="100000")
    on_binance = copy_start(
        follower=stranger,
        strategy_id=strategy.pk,
        exchange_account_id=simulator_account(binance, stranger, usdt="1000").pk,
        sizing_mode="fixed",
        fixed_notional="50",
    )
    on_bybit = copy_start(
        follower=follower,
        strategy_id=strategy.pk,
        exchange_account_id=bybit_account(bybit, follower).pk,
        sizing_mode="fixed",
        fixed_notional="50",
    )

    # when the leader buys BNB/USDT, which the simulated Bybit does not list
    market_moves_to("600", symbol="BNB/USDT")
    signal = LeaderSignal(external_id="bnb-1", symbol="BNB/USDT", action="buy", amount=Decimal("1"), price=Decimal("600"))
    leader_signal_submit(strategy_id=strategy.pk, signal=signal, source=Strategy.Source.API)
    run_engine()

    # then the Binance follower has it, and the Bybit follower's copy says why it has not
    assert orders_of(binance, on_binance) == [("BUY", Decimal("0.083"))]
    [skipped] = CopiedTrade.objects.filter(copy=on_bybit)
    assert (skipped.status, skipped.reason) == (CopiedTrade.Status.SKIPPED, CopiedTrade.Reason.MARKET_NOT_LISTED)
    assert copied_trade_reason_text(skipped) == (
        "Bybit does not list BNB/USDT, the market the leader traded, so there was nothing to copy there"
    )
    assert bybit.orders() == []


def test_a_perpetual_is_copied_to_bybits_and_binances_usdt_perpetuals_with_reduce_only_exits(sims, owner, follower, stranger, settings):
    # given a signal leader whose markets (and prices) are Bybit's, so BTC/USDT:USDT is a market
    settings.PAPER_PRICE_SOURCE = "bybit"
    binance, bybit = sims
    strategy = signal_only_strategy(owner, capital="100000")
    on_bybit = copy_start(
        follower=follower,
        strategy_id=strategy.pk,
        exchange_account_id=bybit_account(bybit, follower).pk,
        sizing_mode="fixed",
        fixed_notional="300",
    )
    binance_account = simulator_account(binance, stranger, usdt="1000")
    binance.set_futures_wallet(api_key=binance_account.api_key, usdt="1000")
    on_binance = copy_start(
        follower=stranger, strategy_id=strategy.pk, exchange_account_id=binance_account.pk, sizing_mode="fixed", fixed_notional="400"
    )

    # when the leader opens, halves and closes the perpetual
    for external_id, action, size in (
        ("p1", "buy", {"amount": Decimal("0.05")}),
        ("p2", "sell", {"fraction": Decimal("0.5")}),
        ("p3", "close", {}),
    ):
        prices_move_to(sims, "65000")
        signal = LeaderSignal(external_id=external_id, symbol="BTC/USDT:USDT", action=action, price=Decimal("65000"), **size)
        leader_signal_submit(strategy_id=strategy.pk, signal=signal, source=Strategy.Source.API)
        run_engine()

    # then Bybit holds them at its 0.001 step (300 USDT at 65,000: 0.004), exits reduce-only
    assert orders_of(bybit, on_bybit) == [("BUY", Decimal("0.004")), ("SELL", Decimal("0.002")), ("SELL", Decimal("0.002"))]
    assert [row[:3] for row in rows_of(on_bybit)] == [("open", "filled", ""), ("reduce", "filled", ""), ("close", "filled", "")]
    assert FollowerPosition.objects.get(copy=on_bybit, symbol="BTC/USDT:USDT").quantity == 0
    # and Binance's USDⓈ-M perpetual the same (400 USDT at 65,000: 0.006 at its 0.001 step)
    assert orders_of(binance, on_binance) == [("BUY", Decimal("0.006")), ("SELL", Decimal("0.003")), ("SELL", Decimal("0.003"))]
    assert [row[:3] for row in rows_of(on_binance)] == [("open", "filled", ""), ("reduce", "filled", ""), ("close", "filled", "")]
    assert [order["reduce_only"] for order in binance.orders(api_key=binance_account.api_key)] == [False, True, True]
