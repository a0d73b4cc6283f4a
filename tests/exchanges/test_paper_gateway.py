import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from exchanges.errors import (
    BelowExchangeMinimumError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
)
from exchanges.gateways.paper import PaperGateway, paper_account_fund
from exchanges.models import ExchangeAccount, PaperBalance, PaperOrder
from exchanges.types import MarketRules


def _market(symbol: str, **rules) -> MarketRules:
    base, quote = symbol.split(":")[0].split("/")
    defaults = dict(amount_step=Decimal("0.00001"), price_step=Decimal("0.01"), min_amount=Decimal("0.00001"), min_cost=Decimal("5"))
    return MarketRules(symbol=symbol, base=base, quote=quote, exchange_symbol=base + quote, **{"type": "spot", **defaults, **rules})


MARKETS = {
    market.symbol: market
    for market in (
        _market("BTC/USDT"),
        _market("ETH/USDT", amount_step=Decimal("0.0001")),
        _market("BTC/USDT:USDT", type="swap"),
    )
}


class PriceSource:
    """Market data with a swap market and a barrier, which the simulator cannot give."""

    def __init__(self, prices: dict[str, str], barrier: threading.Barrier | None = None):
        self.prices = {symbol: Decimal(price) for symbol, price in prices.items()}
        self.barrier = barrier

    def markets(self) -> dict[str, MarketRules]:
        return MARKETS

    def ticker_price(self, symbol: str, *, fresh: bool = False) -> Decimal:
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        return self.prices[symbol]


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.PAPER_FEE_RATE = Decimal("0.001")
    settings.PAPER_SLIPPAGE_RATE = Decimal("0.0005")
    # Every order sees the simulator's price of the moment, not a cached one.
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0


@pytest.fixture
def account(follower):
    account = ExchangeAccount.objects.create(owner=follower, exchange_id="paper", label="Paper")
    paper_account_fund(account=account, balances={"USDT": Decimal("10000")})
    return account


@pytest.fixture
def market(simulated_binance, settings):
    """The paper price source is Binance, here the loopback simulator over HTTP."""
    settings.PAPER_PRICE_SOURCE = "binance"
    simulated_binance.set_prices(prices={"BTC/USDT": "50000", "ETH/USDT": "2500"})
    return simulated_binance


@pytest.fixture
def gateway(account, market):
    return PaperGateway(account)


def _free(account) -> dict[str, Decimal]:
    return {row.currency: row.free for row in PaperBalance.objects.filter(account=account)}


def _locked(account) -> dict[str, Decimal]:
    return {row.currency: row.locked for row in PaperBalance.objects.filter(account=account)}


def test_a_market_buy_fills_at_once_at_the_slipped_price_and_pays_the_fee_in_quote(gateway, account):
    order = gateway.create_order(symbol="BTCUSDT", side="buy", amount=Decimal("0.1"), client_order_id="c1")

    assert (order.status, order.symbol, order.filled, order.average_price) == ("closed", "BTC/USDT", Decimal("0.1"), Decimal("50025"))
    assert (order.cost, order.fee, order.fee_currency) == (Decimal("5002.5"), Decimal("5.0025"), "USDT")
    assert order.is_fully_filled
    assert _free(account) == {"USDT": Decimal("4992.4975"), "BTC": Decimal("0.1")}


def test_a_market_sell_receives_the_slipped_price_less_the_fee(gateway, account):
    paper_account_fund(account=account, balances={"BTC": Decimal("0.5")})

    order = gateway.create_order(symbol="BTC/USDT", side="sell", amount=Decimal("0.1"), client_order_id="c1")

    assert (order.status, order.average_price, order.cost, order.fee) == ("closed", Decimal("49975"), Decimal("4997.5"), Decimal("4.9975"))
    assert _free(account) == {"USDT": Decimal("14992.5025"), "BTC": Decimal("0.4")}


def test_fee_and_slippage_come_from_settings(settings, account, market):
    settings.PAPER_FEE_RATE = Decimal("0.002")
    settings.PAPER_SLIPPAGE_RATE = Decimal("0")

    order = PaperGateway(account).create_order(symbol="ETH/USDT", side="buy", amount=Decimal("1"), client_order_id="c1")

    assert (order.average_price, order.cost, order.fee) == (Decimal("2500"), Decimal("2500"), Decimal("5"))


def test_it_truncates_the_amount_to_the_market_precision(gateway, account):
    order = gateway.create_order(symbol="ETH/USDT", side="buy", amount=Decimal("1.23456789"), client_order_id="c1")

    assert order.amount == order.filled == Decimal("1.2345")
    assert _free(account)["ETH"] == Decimal("1.2345")


@pytest.mark.parametrize("amount", [Decimal("0.000009"), Decimal("0.00009")], ids=["below_min_amount", "below_min_cost"])
def test_it_refuses_orders_below_the_exchange_minimum_and_records_nothing(gateway, account, amount):
    with pytest.raises(BelowExchangeMinimumError):
        gateway.create_order(symbol="BTC/USDT", side="buy", amount=amount, client_order_id="c1")

    assert not PaperOrder.objects.exists()
    assert _free(account) == {"USDT": Decimal("10000")}


def test_a_buy_needs_the_cost_and_the_fee_in_free_quote(gateway, account):
    # 0.1997 BTC costs 9989.99 USDT at the slipped price, 9999.98 with the fee: it fits.
    gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.1997"), client_order_id="fits")

    with pytest.raises(InsufficientFundsError, match="has 0.0.*USDT free; this order needs") as raised:
        gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.0002"), client_order_id="too-much")

    assert raised.value.reason == "insufficient_funds"
    assert list(PaperOrder.objects.values_list("client_order_id", flat=True)) == ["fits"]


def test_a_sell_cannot_sell_more_than_the_account_holds(gateway, account):
    paper_account_fund(account=account, balances={"BTC": Decimal("0.1")})

    with pytest.raises(InsufficientFundsError, match="0.1000.* BTC free"):
        gateway.create_order(symbol="BTC/USDT", side="sell", amount=Decimal("0.10001"), client_order_id="c1")

    assert _free(account) == {"USDT": Decimal("10000"), "BTC": Decimal("0.1")}


def test_a_reused_client_order_id_is_refused_and_does_not_trade_again(gateway, account):
    first = gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.1"), client_order_id="same")

    with pytest.raises(DuplicateClientOrderIdError, match="'same'"):
        gateway.create_order(symbol="ETH/USDT", side="buy", amount=Decimal("1"), client_order_id="same")

    assert _free(account) == {"USDT": Decimal("4992.4975"), "BTC": Decimal("0.1")}
    assert gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="same") == first


def test_a_retried_order_hears_duplicate_even_when_its_first_run_spent_the_funds(gateway):
    gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.19"), client_order_id="same")

    with pytest.raises(DuplicateClientOrderIdError):
        gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.19"), client_order_id="same")


def test_another_account_may_use_the_same_client_order_id(gateway, follower):
    other = ExchangeAccount.objects.create(owner=follower, exchange_id="paper", label="Other paper")
    paper_account_fund(account=other, balances={"USDT": Decimal("100")})
    gateway.create_order(symbol="ETH/USDT", side="buy", amount=Decimal("0.01"), client_order_id="same")

    order = PaperGateway(other).create_order(symbol="ETH/USDT", side="buy", amount=Decimal("0.01"), client_order_id="same")

    assert order.status == "closed"


def test_it_finds_an_order_by_client_order_id_and_says_when_there_is_none(gateway):
    placed = gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.01"), client_order_id="c1")

    assert gateway.fetch_order_by_client_id(symbol="btc-usdt", client_order_id="c1") == placed
    with pytest.raises(OrderNotFoundError, match="no BTC/USDT order 'c2'"):
        gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="c2")
    with pytest.raises(OrderNotFoundError):
        gateway.fetch_order_by_client_id(symbol="ETH/USDT", client_order_id="c1")


def test_an_ioc_buy_within_its_limit_fills_at_the_market_not_at_the_limit(gateway):
    order = gateway.create_order(
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        price=Decimal("50500"),
        time_in_force="IOC",
        amount=Decimal("0.1"),
        client_order_id="c1",
    )

    assert (order.status, order.filled, order.average_price) == ("closed", Decimal("0.1"), Decimal("50025"))


def test_an_ioc_buy_expires_unfilled_when_the_slipped_price_is_above_its_limit(gateway, account):
    # The guard is 50 010 but slippage makes the fill 50 025: the follower does not chase.
    order = gateway.create_order(
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        price=Decimal("50010"),
        time_in_force="IOC",
        amount=Decimal("0.1"),
        client_order_id="c1",
    )

    assert (order.status, order.filled, order.cost, order.fee, order.average_price) == ("expired", 0, 0, 0, None)
    assert _free(account) == {"USDT": Decimal("10000"), "BTC": Decimal("0")}
    assert gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="c1").status == "expired"


def test_an_ioc_sell_expires_unfilled_when_the_slipped_price_is_below_its_limit(gateway, account):
    paper_account_fund(account=account, balances={"BTC": Decimal("1")})

    expired = gateway.create_order(
        symbol="BTC/USDT",
        side="sell",
        type="limit",
        price=Decimal("49990"),
        time_in_force="IOC",
        amount=Decimal("0.1"),
        client_order_id="c1",
    )
    filled = gateway.create_order(
        symbol="BTC/USDT",
        side="sell",
        type="limit",
        price=Decimal("49975"),
        time_in_force="IOC",
        amount=Decimal("0.1"),
        client_order_id="c2",
    )

    assert (expired.status, expired.filled) == ("expired", 0)
    assert (filled.status, filled.average_price) == ("closed", Decimal("49975"))
    assert _free(account)["BTC"] == Decimal("0.9")


def test_a_resting_limit_order_locks_its_funds_until_cancelled(gateway, account):
    order = gateway.create_order(
        symbol="BTC/USDT", side="buy", type="limit", price=Decimal("40000"), amount=Decimal("0.1"), client_order_id="c1"
    )

    assert order.status == "open"
    assert _locked(account)["USDT"] == Decimal("4004")  # 4000 at the limit plus the 0.1 % fee
    assert gateway.balance()["USDT"].free == Decimal("5996")

    cancelled = gateway.cancel_order(symbol="BTC/USDT", client_order_id="c1")

    assert (cancelled.status, cancelled.filled) == ("canceled", 0)
    assert _free(account)["USDT"] == Decimal("10000") and _locked(account)["USDT"] == 0


def test_a_resting_limit_order_fills_at_its_limit_once_the_price_reaches_it(gateway, account, market):
    gateway.create_order(symbol="BTC/USDT", side="buy", type="limit", price=Decimal("40000"), amount=Decimal("0.1"), client_order_id="c1")
    assert gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="c1").status == "open"

    market.set_price(symbol="BTC/USDT", price="39000")
    order = gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="c1")

    assert (order.status, order.filled, order.average_price) == ("closed", Decimal("0.1"), Decimal("40000"))
    assert (order.cost, order.fee) == (Decimal("4000"), Decimal("4"))
    assert _free(account) == {"USDT": Decimal("5996"), "BTC": Decimal("0.1")}
    assert _locked(account) == {"USDT": 0, "BTC": 0}


def test_cancelling_an_order_that_already_filled_returns_it_as_it_is(gateway):
    placed = gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.01"), client_order_id="c1")

    assert gateway.cancel_order(symbol="BTC/USDT", client_order_id="c1") == placed
    with pytest.raises(OrderNotFoundError):
        gateway.cancel_order(symbol="BTC/USDT", client_order_id="unknown")


def test_equity_marks_every_holding_at_its_current_price(gateway, account, market):
    paper_account_fund(account=account, balances={"USDT": Decimal("1000"), "BTC": Decimal("0.5"), "ETH": Decimal("2"), "XYZ": Decimal("7")})
    market.set_price(symbol="BTC/USDT", price="60000")

    equity = gateway.equity()

    assert (equity.quote, equity.equity, equity.free_quote) == ("USDT", Decimal("36000"), Decimal("1000"))  # XYZ has no market
    assert equity.balances["BTC"].total == Decimal("0.5")


def test_positions_are_the_non_zero_coin_balances(gateway, account):
    paper_account_fund(account=account, balances={"BTC": Decimal("0.5"), "ETH": Decimal("0")})

    positions = gateway.positions()

    assert [(position.symbol, position.quantity) for position in positions] == [("BTC/USDT", Decimal("0.5"))]


def _perp(account, prices: dict[str, str], *, leverage: int = 5) -> PaperGateway:
    gateway = PaperGateway(account, price_source=PriceSource(prices))
    gateway.perpetual_settings_apply(symbol="BTC/USDT:USDT", leverage=leverage, margin_mode="isolated")
    return gateway


def test_a_paper_perpetual_entry_takes_its_margin_and_an_exit_gives_it_back_with_the_pnl(account, settings):
    settings.PAPER_SLIPPAGE_RATE = Decimal("0")
    source = PriceSource({"BTC/USDT:USDT": "50000"})
    gateway = PaperGateway(account, price_source=source)
    gateway.perpetual_settings_apply(symbol="BTC/USDT:USDT", leverage=5, margin_mode="isolated")

    gateway.create_order(symbol="BTC/USDT:USDT", side="buy", amount=Decimal("0.1"), client_order_id="open")

    # 5,000 notional at 5×: 1,000 of margin and a 5 fee leave the free balance
    assert gateway.perpetual_free_margin() == Decimal("8995")
    [position] = gateway.perpetual_positions()
    assert (position.quantity, position.leverage, position.margin_mode) == (Decimal("0.1"), 5, "isolated")
    assert position.liquidation_price == (  # Binance: (margin − q × entry) / (q × rate − q)
        (Decimal(1000) - Decimal("0.1") * 50000) / (Decimal("0.1") * Decimal("0.004") - Decimal("0.1"))
    )
    source.prices["BTC/USDT:USDT"] = Decimal("51000")
    gateway.create_order(symbol="BTC/USDT:USDT", side="sell", amount=Decimal("0.1"), client_order_id="close", reduce_only=True)
    assert gateway.perpetual_free_margin() == Decimal("8995") + 1000 + 100 - Decimal("5.1")
    assert gateway.perpetual_positions() == []


def test_a_paper_perpetual_refuses_an_entry_beyond_free_margin_and_a_reduce_only_that_would_open(account):
    gateway = _perp(account, {"BTC/USDT:USDT": "50000"}, leverage=2)

    with pytest.raises(InsufficientFundsError):
        gateway.create_order(symbol="BTC/USDT:USDT", side="buy", amount=Decimal("0.5"), client_order_id="big")  # 12,500 of margin
    with pytest.raises(OrderRejectedError):
        gateway.create_order(symbol="BTC/USDT:USDT", side="sell", amount=Decimal("0.01"), client_order_id="ro", reduce_only=True)
    assert not PaperOrder.objects.filter(account=account).exists()
    assert gateway.perpetual_free_margin() == Decimal("10000")


def test_a_paper_perpetual_is_liquidated_at_the_maintenance_margin_and_loses_its_margin(account):
    source = PriceSource({"BTC/USDT:USDT": "50000"})
    gateway = PaperGateway(account, price_source=source)
    gateway.perpetual_settings_apply(symbol="BTC/USDT:USDT", leverage=10, margin_mode="isolated")
    gateway.create_order(symbol="BTC/USDT:USDT", side="buy", amount=Decimal("0.1"), client_order_id="open")
    free = gateway.perpetual_free_margin()
    [position] = gateway.perpetual_positions()

    source.prices["BTC/USDT:USDT"] = position.liquidation_price - 1

    assert gateway.perpetual_positions() == []
    assert gateway.perpetual_free_margin() == free  # the margin held is gone, nothing more
    with pytest.raises(OrderRejectedError):
        gateway.create_order(symbol="BTC/USDT:USDT", side="sell", amount=Decimal("0.1"), client_order_id="late", reduce_only=True)


def test_a_paper_perpetuals_margin_mode_cannot_change_while_a_position_is_open(account):
    gateway = _perp(account, {"BTC/USDT:USDT": "50000"})
    gateway.create_order(symbol="BTC/USDT:USDT", side="buy", amount=Decimal("0.01"), client_order_id="open")

    with pytest.raises(OrderRejectedError):
        gateway.perpetual_settings_apply(symbol="BTC/USDT:USDT", leverage=5, margin_mode="cross")
    gateway.perpetual_settings_apply(symbol="BTC/USDT:USDT", leverage=3, margin_mode="isolated")


def test_funding_sets_the_starting_balances_and_leaves_other_currencies_alone(account):
    paper_account_fund(account=account, balances={"btc": Decimal("1.5")})
    paper_account_fund(account=account, balances={"USDT": Decimal("250")})

    assert _free(account) == {"USDT": Decimal("250"), "BTC": Decimal("1.5")}


def test_funding_refuses_a_negative_balance_and_a_real_exchange_account(account, follower):
    real = ExchangeAccount.objects.create(owner=follower, exchange_id="binance", label="Binance")

    with pytest.raises(ValidationError, match="zero or more"):
        paper_account_fund(account=account, balances={"USDT": Decimal("-1")})
    with pytest.raises(ValidationError, match="not a paper account"):
        paper_account_fund(account=real, balances={"USDT": Decimal("1")})
    assert _free(account) == {"USDT": Decimal("10000")}


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_orders_cannot_overspend_the_account(follower):
    # given funds for one 0.15 BTC buy (7 511.25 USDT with the fee), not two, and both
    # balance rows already there (creating one would serialise the orders by accident)
    account = ExchangeAccount.objects.create(owner=follower, exchange_id="paper", label="Paper")
    paper_account_fund(account=account, balances={"USDT": Decimal("10000"), "BTC": Decimal("0")})
    # both threads get their price together, then race into the transaction
    prices = PriceSource({"BTC/USDT": "50000"}, barrier=threading.Barrier(2))
    outcomes = []

    def buy(client_order_id: str) -> None:
        try:
            order = PaperGateway(account, price_source=prices).create_order(
                symbol="BTC/USDT", side="buy", amount=Decimal("0.15"), client_order_id=client_order_id
            )
            outcomes.append(order.status)
        except InsufficientFundsError:
            outcomes.append("insufficient_funds")
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=buy, args=(f"c{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then exactly one filled and the account paid for exactly one
    assert sorted(outcomes) == ["closed", "insufficient_funds"]
    assert _free(account) == {"USDT": Decimal("10000") - Decimal("7503.75") - Decimal("7.50375"), "BTC": Decimal("0.15")}
