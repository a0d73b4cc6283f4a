"""USDⓈ-M perpetuals copied over the wire to the simulator's `/fapi/`: leverage policy and
margin mode set once per symbol, entries sized on margin, reduce-only exits, free margin
checked before entries (never exits), funding in the copy's P&L and fees, liquidation price."""

from decimal import Decimal

import pytest
import redis
from django.conf import settings as settings_module
from django.utils import timezone

from billing.selectors import copy_results
from copytrade.models import CopiedTrade, Copy, FollowerPosition, FundingPayment, LeaderTrade, Strategy
from copytrade.perpetuals import copy_leverage, entry_notional_on_margin
from copytrade.reasons import copied_trade_reason_text
from copytrade.selectors import PositionMarker
from copytrade.services.copies import copy_start, copy_update
from copytrade.services.funding import funding_accounts_sync
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from exchanges.gateways import gateway_for_account
from exchanges.gateways.ccxt_gateway import clear_caches
from exchanges.models import PaperPerpetualPosition, PerpetualSetting
from tests.copytrade import paper_account, signal_only_strategy, simulator_account
from tests.copytrade.test_execution import run_engine

pytestmark = pytest.mark.django_db

PERP = "BTC/USDT:USDT"
Policy = Copy.LeveragePolicy


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0  # prices change between steps of a test
    return simulated_binance


@pytest.fixture
def strategy(owner, sim):
    return signal_only_strategy(owner, capital="100000")


def perp_copy(sim, user, strategy, *, wallet: str = "10000", label: str = "Binance", **options) -> Copy:
    """A copy on an account with 10,000 USDT of spot equity (its copy capital's base) and
    `wallet` USDT in its futures wallet (the margin)."""
    account = simulator_account(sim, user, label=label)
    sim.set_futures_wallet(api_key=account.api_key, usdt=wallet)
    return copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, **options)


def perp_moves_to(sim, price: str) -> None:
    sim.set_futures_prices(prices={PERP: price})
    clear_caches()
    client = redis.Redis.from_url(settings_module.REDIS_URL)
    for key in client.scan_iter("exchanges:ticker:*"):
        client.delete(key)


def leader(sim, strategy, external_id: str, action: str, *, price: str, leverage: int | None = 10, **size):
    perp_moves_to(sim, price)
    signal = LeaderSignal(
        external_id=external_id,
        symbol=PERP,
        action=action,
        price=Decimal(price),
        leverage=leverage,
        **{name: Decimal(str(value)) for name, value in size.items()},
    )
    return leader_signal_submit(strategy_id=strategy.pk, signal=signal, source=Strategy.Source.API)


def orders_of(sim, copy) -> list[tuple[str, Decimal, bool]]:
    return [(o["side"], Decimal(o["amount"]), o["reduce_only"]) for o in sim.orders(api_key=copy.exchange_account.api_key)]


def outcomes(copy) -> list[tuple]:
    return [(t.effect, t.status, t.reason) for t in CopiedTrade.objects.filter(copy=copy).order_by("sequence")]


def test_the_leverage_policy_picks_the_leaders_a_fixed_one_or_the_leaders_capped():
    assert copy_leverage(policy=Policy.FOLLOW, leverage=None, leader_leverage=10) == 10
    assert copy_leverage(policy=Policy.FOLLOW, leverage=None, leader_leverage=None) == 1
    assert copy_leverage(policy=Policy.FIXED, leverage=3, leader_leverage=10) == 3
    assert copy_leverage(policy=Policy.CAP, leverage=5, leader_leverage=10) == 5
    assert copy_leverage(policy=Policy.CAP, leverage=5, leader_leverage=2) == 2
    # the leader's 3,250 at 10× is 325 of margin; at 3× that margin opens 975
    assert entry_notional_on_margin(sizing_mode="proportional", notional=Decimal(3250), leader_leverage=10, leverage=3) == 975
    assert entry_notional_on_margin(sizing_mode="fixed", notional=Decimal(200), leader_leverage=10, leverage=3) == 600


def test_fixed_3x_isolated_and_following_the_leaders_10x_copy_an_entry_a_partial_and_a_full_exit(sim, strategy, follower, stranger):
    # given one follower at a fixed 3× isolated and one following the leader's leverage, cross
    fixed = perp_copy(
        sim, follower, strategy, allocation_percent=Decimal("50"), leverage_policy=Policy.FIXED, leverage=3, margin_mode="isolated"
    )
    following = perp_copy(sim, stranger, strategy, allocation_percent=Decimal("50"), margin_mode="cross")

    # when the leader opens 1 BTC at 10× (65,000 notional, 6,500 margin), adds, reduces 40 % and closes
    leader(sim, strategy, "t1", "buy", price="65000", amount="1")
    run_engine()
    leader(sim, strategy, "t2", "buy", price="65000", amount="1")
    run_engine()
    leader(sim, strategy, "t3", "sell", price="66000", fraction="0.4")
    run_engine()
    leader(sim, strategy, "t4", "close", price="64000")
    run_engine()

    # then each copy's margin is the leader's scaled by capital (5,000 of 100,000): 325 a
    # trade, opening 975 at 3× (0.015 BTC) or 3,250 at 10× (0.05 BTC), the second a little
    # less (the capital moved with the first entry's fee); exits are reduce-only fractions
    assert orders_of(sim, fixed) == [
        ("BUY", Decimal("0.015"), False),
        ("BUY", Decimal("0.014"), False),
        ("SELL", Decimal("0.011"), True),
        ("SELL", Decimal("0.018"), True),
    ]
    assert orders_of(sim, following) == [
        ("BUY", Decimal("0.050"), False),
        ("BUY", Decimal("0.049"), False),
        ("SELL", Decimal("0.039"), True),
        ("SELL", Decimal("0.060"), True),
    ]
    assert [status for _, status, _ in outcomes(fixed) + outcomes(following)] == ["filled"] * 8
    # leverage and margin mode were set on the exchange once per symbol, before the first order
    assert sim.futures_account(api_key=fixed.exchange_account.api_key)["settings_log"] == [
        ["marginType", "BTCUSDT", "ISOLATED"],
        ["leverage", "BTCUSDT", "3"],
    ]
    assert sim.futures_account(api_key=following.exchange_account.api_key)["settings_log"] == [["leverage", "BTCUSDT", "10"]]
    assert list(PerpetualSetting.objects.order_by("account_id").values_list("leverage", "margin_mode")) == [(3, "isolated"), (10, "cross")]
    for copy in (fixed, following):
        assert FollowerPosition.objects.get(copy=copy).quantity == 0
        position = sim.futures_account(api_key=copy.exchange_account.api_key)["positions"]["BTCUSDT"]
        assert Decimal(position["amount"]) == 0
        copy.refresh_from_db()
        wallet = Decimal(sim.futures_account(api_key=copy.exchange_account.api_key)["wallet_balance"])
        assert copy.realized_pnl == wallet - Decimal("10000")  # the copy's P&L is what the futures wallet made


def test_a_changed_leverage_is_set_again_before_the_next_entry(sim, strategy, follower):
    copy = perp_copy(
        sim, follower, strategy, allocation_percent=Decimal("50"), leverage_policy=Policy.FIXED, leverage=3, margin_mode="isolated"
    )
    leader(sim, strategy, "t1", "buy", price="65000", amount="1")
    run_engine()

    copy_update(follower=follower, copy_id=copy.pk, data={"leverage_policy": Policy.CAP, "leverage": 5})
    leader(sim, strategy, "t2", "buy", price="65000", amount="1")
    run_engine()

    assert sim.futures_account(api_key=copy.exchange_account.api_key)["settings_log"] == [
        ["marginType", "BTCUSDT", "ISOLATED"],
        ["leverage", "BTCUSDT", "3"],
        ["leverage", "BTCUSDT", "5"],
    ]
    assert orders_of(sim, copy)[1] == ("BUY", Decimal("0.024"), False)  # 325 margin (less the first fee's share) × 5


def test_an_entry_beyond_free_margin_is_refused_with_its_reason_and_exits_are_never_refused(sim, strategy, follower, stranger):
    # given a copy whose futures wallet holds 100 USDT, and one that opened and then lost its free margin
    short_of_margin = perp_copy(sim, follower, strategy, wallet="100", allocation_percent=Decimal("50"))
    drained = perp_copy(
        sim, stranger, strategy, allocation_percent=Decimal("50"), leverage_policy=Policy.FIXED, leverage=3, margin_mode="isolated"
    )
    leader(sim, strategy, "t1", "buy", price="65000", amount="1")
    run_engine()
    sim.set_futures_wallet(api_key=drained.exchange_account.api_key, usdt="330")  # what its position's margin holds

    leader(sim, strategy, "t2", "buy", price="65000", amount="1")
    run_engine()
    leader(sim, strategy, "t3", "sell", price="65000", fraction="0.5")
    run_engine()

    # then the entries beyond free margin are skipped with the numbers, the exit is filled
    assert outcomes(short_of_margin) == [
        ("open", "skipped", "insufficient_margin"),
        ("increase", "skipped", "insufficient_margin"),
    ]  # (a copy holding nothing is not asked to reduce)
    assert outcomes(drained) == [("open", "filled", ""), ("increase", "skipped", "insufficient_margin"), ("reduce", "filled", "")]
    skipped = CopiedTrade.objects.filter(copy=short_of_margin).first()
    assert copied_trade_reason_text(skipped) == "the entry needed 325.00 USDT of margin at 10× and your account had 100.00 USDT free"
    assert orders_of(sim, short_of_margin) == []
    assert orders_of(sim, drained)[-1] == ("SELL", Decimal("0.007"), True)


def test_funding_is_recorded_once_per_payment_and_is_in_the_copys_pnl_and_fees(sim, strategy, follower):
    copy = perp_copy(
        sim, follower, strategy, allocation_percent=Decimal("50"), leverage_policy=Policy.FIXED, leverage=3, margin_mode="isolated"
    )
    leader(sim, strategy, "t1", "buy", price="65000", amount="1")
    run_engine()
    copy.refresh_from_db()
    pnl_after_entry = copy.realized_pnl

    # when two funding intervals settle (longs pay a positive rate) and funding is read three times
    sim.set_futures_prices(marks={PERP: "65500"}, funding_rates={PERP: "0.0001"})
    sim.pay_funding(symbol=PERP)
    assert funding_accounts_sync() == 1
    sim.set_futures_prices(funding_rates={PERP: "-0.0002"})
    sim.pay_funding(symbol=PERP)
    assert funding_accounts_sync() == 1
    assert funding_accounts_sync() == 0

    # then: 0.015 BTC × 65,500 × 0.01 % paid, then × 0.02 % received
    payments = list(FundingPayment.objects.filter(copy=copy).order_by("paid_at").values_list("amount_quote", flat=True))
    assert payments == [Decimal("-0.09825"), Decimal("0.1965")]
    copy.refresh_from_db()
    assert copy.realized_pnl == pnl_after_entry + sum(payments)
    trades_pnl = sum(t.pnl_billing for t in CopiedTrade.objects.filter(copy=copy))
    assert copy_results(copies=[copy], now=timezone.now())[copy.pk].gross_pnl == trades_pnl + sum(payments)


def test_a_perpetual_position_shows_its_liquidation_price(sim, strategy, follower, client_for):
    copy = perp_copy(
        sim, follower, strategy, allocation_percent=Decimal("50"), leverage_policy=Policy.FIXED, leverage=3, margin_mode="isolated"
    )
    leader(sim, strategy, "t1", "buy", price="65000", amount="1")
    run_engine()

    position = FollowerPosition.objects.select_related("copy__exchange_account").get(copy=copy)
    shown = PositionMarker().liquidation_price(position)
    # entry × (1 − 1/3) / (1 − 0.4 %), as the exchange computes it (to its margin's rounding)
    assert shown == Decimal("43507.36278447")
    [on_exchange] = gateway_for_account(copy.exchange_account).perpetual_positions()
    assert abs(on_exchange.liquidation_price - shown) < Decimal("0.000001")
    assert LeaderTrade.objects.get().leverage == 10
    body = client_for(follower).get(f"/api/copy-trading/copies/{copy.pk}").json()
    assert body["positions"][0]["liquidation_price"] == "43507.36278447"
    assert (body["leverage_policy"], body["leverage"], body["margin_mode"]) == ("fixed", 3, "isolated")


def test_a_cross_margin_position_shows_only_the_exchanges_liquidation_price(sim, strategy, follower):
    # given: a cross-margin copy, whose liquidation depends on the whole futures wallet
    copy = perp_copy(sim, follower, strategy, allocation_percent=Decimal("50"), leverage_policy=Policy.FIXED, leverage=3)
    leader(sim, strategy, "t1", "buy", price="65000", amount="1")
    run_engine()

    # when: the position is shown
    position = FollowerPosition.objects.select_related("copy__exchange_account").get(copy=copy)
    shown = PositionMarker().liquidation_price(position)

    # then: no figure of our own making: the exchange's (none here), never an isolated formula's
    [on_exchange] = gateway_for_account(copy.exchange_account).perpetual_positions()
    assert on_exchange.margin_mode == "cross"
    assert shown == (on_exchange.liquidation_price or None)


def test_a_paper_copy_opens_a_perpetual_at_its_leverage_and_closes_it_reduce_only(sim, strategy, follower, settings):
    settings.PAPER_PRICE_SOURCE = "binance"  # the simulator's /fapi/ prices the paper account
    account = paper_account(follower)
    copy = copy_start(
        follower=follower,
        strategy_id=strategy.pk,
        exchange_account_id=account.pk,
        allocation_percent=Decimal("50"),
        leverage_policy=Policy.FIXED,
        leverage=3,
        margin_mode="isolated",
    )

    leader(sim, strategy, "t1", "buy", price="65000", amount="1")
    run_engine()
    position = PaperPerpetualPosition.objects.get(account=account, symbol=PERP)
    assert (position.quantity, position.leverage, position.margin_mode) == (Decimal("0.015"), 3, "isolated")
    leader(sim, strategy, "t2", "close", price="66000")
    run_engine()

    assert [status for _, status, _ in outcomes(copy)] == ["filled", "filled"]
    position.refresh_from_db()
    assert position.quantity == 0 and position.margin == 0
    copy.refresh_from_db()
    assert copy.realized_pnl > 0  # 0.015 × 1,000 less fees and slippage
