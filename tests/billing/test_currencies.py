"""P&L in a market's quote currency is converted to the billing currency at fill time with the
rate recorded beside it; a market whose quote cannot be converted is refused at ingestion."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.models import Invoice
from billing.services import billing_period_run
from copytrade.models import CopiedTrade, Copy, LeaderTrade, Strategy
from copytrade.services.copies import copy_start
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from core.errors import ApplicationError
from core.models import Notification
from core.money import quantize_money
from devtools.simulator.client import SimulatorClient
from devtools.simulator.server import start_simulator_thread
from exchanges.gateways.ccxt_gateway import clear_caches
from exchanges.models import ExchangeAccount
from exchanges.services import exchange_account_create
from marketplace.models import CopyFeeTerms
from tests.billing.factories import at, make_copy, make_provider, make_strategy, make_user, month
from tests.copytrade import signal_only_strategy
from tests.copytrade.test_execution import run_engine

OCTOBER = month(2026, 10)


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0  # prices change between steps of a test
    settings.STRIPE_API_KEY = ""
    return simulated_binance


def _signal(strategy: Strategy, external_id: str, action: str, *, symbol: str, price: str, **size):
    signal = LeaderSignal(
        external_id=external_id,
        symbol=symbol,
        action=action,
        price=Decimal(price),
        **{name: Decimal(value) for name, value in size.items()},
    )
    return leader_signal_submit(strategy_id=strategy.pk, signal=signal, source=Strategy.Source.API)


@pytest.mark.django_db
def test_an_eth_btc_copy_is_invoiced_in_usd_at_the_rate_recorded_at_each_fill(sim, owner, follower, client_for):
    # given: an AI strategy at 20 % trading ETH/BTC; the follower copies it 1:1 on a Binance account
    make_provider(owner)  # curators approved the owner: its AI strategy's fee may be charged
    strategy = signal_only_strategy(owner, capital="100000", kind=Strategy.Kind.AI, copy_override_percent=Decimal("20"))
    credentials = sim.create_account(balances={"USDT": "10000", "BTC": "1"})
    account = exchange_account_create(
        owner=follower, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
    )
    copy = copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="multiplier", multiplier=Decimal("1")
    )

    # when: the leader buys 1 ETH at 0.05 BTC (BTC at 60,000 USDT) and sells it at 0.06 (BTC at 70,000)
    sim.set_prices(prices={"ETH/BTC": "0.05", "BTC/USDT": "60000"})
    _signal(strategy, "e1", "buy", symbol="ETH/BTC", price="0.05", amount="1")
    run_engine()
    sim.set_prices(prices={"ETH/BTC": "0.06", "BTC/USDT": "70000"})
    _signal(strategy, "e2", "close", symbol="ETH/BTC", price="0.06")
    run_engine()

    # then: each fill records its P&L in BTC, the BTC→USD rate at that fill, and the P&L in USD
    entry, exit_ = CopiedTrade.objects.filter(copy=copy).order_by("sequence")
    assert (entry.status, exit_.status) == ("filled", "filled")
    assert (entry.quote_currency, entry.quote_rate, exit_.quote_rate) == ("BTC", Decimal("60000"), Decimal("70000"))
    assert entry.pnl_quote < 0 < exit_.pnl_quote  # the entry's fee; the exit's profit less its fee
    for trade in (entry, exit_):
        assert trade.pnl_billing == (trade.pnl_quote * trade.quote_rate).quantize(Decimal("0.00000001"))
    usd = entry.pnl_billing + exit_.pnl_billing
    assert Decimal("600") < usd < Decimal("700")  # ~0.01 BTC at 70,000, less fees: dollars, not 0.0099 "dollars"
    listed = client_for(follower).get("/api/copy-trading/copied-trades").json()
    shown = {row["id"]: row for row in (listed["results"] if isinstance(listed, dict) else listed)}[exit_.id]
    assert (shown["quote_currency"], Decimal(shown["quote_rate"]), shown["pnl_billing"]) == (
        "BTC",
        Decimal("70000"),
        f"{quantize_money(exit_.pnl_billing)}",
    )

    # when: October is billed (the copy and its fills moved into October: billing bills past months)
    Copy.objects.filter(id=copy.id).update(started_at=at(2026, 9, 30))
    CopyFeeTerms.objects.filter(copy=copy).update(effective_from=month(2026, 9))
    CopiedTrade.objects.filter(copy=copy).update(finished_at=at(2026, 10, 15))
    billing_period_run(period=OCTOBER)

    # then: the performance fee is 20 % of the USD P&L, invoiced in USD
    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    (line,) = invoice.lines.all()
    assert (invoice.currency, line.amount) == ("usd", quantize_money(usd * Decimal("0.20")))


@pytest.mark.django_db
def test_a_market_whose_quote_cannot_be_converted_is_refused_at_ingestion_with_a_400(sim, settings, owner, client_for):
    # given: USDT is no longer pegged, so nothing can price BTC/USDT's P&L in USD
    strategy = signal_only_strategy(owner, capital="100000")
    settings.BILLING_CURRENCY_PEGS = {"USD": Decimal("1")}

    # when / then: the service refuses with a clear message, and records nothing
    with pytest.raises(ApplicationError, match=r"BTC/USDT cannot be copied: its profit and loss is in USDT"):
        _signal(strategy, "x1", "buy", symbol="BTC/USDT", price="65000", amount="0.01")
    response = client_for(owner).post(
        f"/api/strategies/{strategy.pk}/trades/",
        {"external_id": "x2", "symbol": "BTC/USDT", "action": "buy", "amount": "0.01", "price": "65000"},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert "USDT/USDT" in response.json()["message"] and response.json()["extra"]["quote_currency"] == "USDT"
    assert not LeaderTrade.objects.exists()


@pytest.mark.django_db
def test_a_market_quoted_in_a_coin_with_a_usdt_market_is_accepted(sim, owner):
    strategy = signal_only_strategy(owner, capital="100000")
    sim.set_prices(prices={"ETH/BTC": "0.05"})

    outcome = _signal(strategy, "ok", "buy", symbol="ETH/BTC", price="0.05", amount="1")

    assert outcome.created and LeaderTrade.objects.get().symbol == "ETH/BTC"


# --- existing rows (copytrade 0004, billing 0008) -----------------------------------------


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def _migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.slow  # migrates the test database back and forth
@pytest.mark.deep  # a data migration's test: make soak
@pytest.mark.django_db(transaction=True)
def test_existing_rows_keep_a_pegged_pnl_and_stop_billing_one_in_an_unconvertible_quote(follower):
    # (the copy made with today's columns, before the schema goes back: it outlives the migrations)
    copy = make_copy(follower, make_strategy(make_user("lead")), started_at=at(2026, 9, 1))
    apps = _migrate([("copytrade", "0003_copied_trade_fewer_indexes")])
    try:
        # given: rows as the code before recorded them (pnl_usd held the quote currency's P&L)
        old_trade = apps.get_model("copytrade", "CopiedTrade")
        rows = {
            symbol: old_trade.objects.create(
                relationship_id=copy.id,  # the field's name before copytrade 0020
                kind="mirror",
                sequence=sequence,
                follower_id=follower.id,
                leader_user_id=copy.strategy.owner_id,
                strategy_id=copy.strategy_id,
                symbol=symbol,
                side="sell",
                effect="close",
                pnl_usd=Decimal(pnl),
                status="filled",
                client_order_id=f"legacy-{sequence}",
                finished_at=at(2026, 10, 5),
            ).id
            for sequence, (symbol, pnl) in enumerate((("BTC/USDT", "120.5"), ("BTC/USDT:USDT", "-3"), ("ETH/BTC", "0.0099")), 1)
        }

        # when
        _migrate_to_latest()

        # then
        migrated = {symbol: CopiedTrade.objects.get(id=row_id) for symbol, row_id in rows.items()}
        as_migrated = {symbol: (row.quote_currency, row.pnl_quote, row.quote_rate, row.pnl_billing) for symbol, row in migrated.items()}
        assert as_migrated == {
            "BTC/USDT": ("USDT", Decimal("120.5"), Decimal("1"), Decimal("120.5")),
            "BTC/USDT:USDT": ("USDT", Decimal("-3"), Decimal("1"), Decimal("-3")),
            "ETH/BTC": ("BTC", Decimal("0.0099"), None, Decimal("0")),
        }
    finally:
        _migrate_to_latest()


# --- a follower's exchange that cannot price the quote -----------------------------------


@pytest.fixture
def second_exchange(sim, settings):
    """The follower's exchange: a second simulator, reached as ccxt's binanceus (Binance's API),
    listing fewer markets than the billing price source (binance, the first simulator)."""
    base_url, stop = start_simulator_thread(port=0)
    settings.EXCHANGE_URL_OVERRIDES = {**settings.EXCHANGE_URL_OVERRIDES, "binanceus": base_url}
    clear_caches()
    yield SimulatorClient(base_url)
    stop()
    clear_caches()


def _market(simulator: SimulatorClient, symbol: str, price: str) -> None:
    base, quote = symbol.split("/")
    simulator.add_market(
        base=base, quote=quote, step_size="0.01", tick_size="0.0001", min_qty="0.01", max_qty="100000", min_notional="1", price=price
    )


def _account_on(simulator: SimulatorClient, follower, exchange_id: str, balances: dict[str, str]) -> ExchangeAccount:
    credentials = simulator.create_account(balances=balances)
    return ExchangeAccount.objects.create(
        owner=follower, exchange_id=exchange_id, label=exchange_id, api_key=credentials["api_key"], api_secret=credentials["api_secret"]
    )


@pytest.mark.django_db
def test_a_followers_pnl_in_a_quote_their_exchange_cannot_price_is_converted_through_the_billing_price_source(
    sim, second_exchange, owner, follower
):
    # given: SOL/FDUSD on both exchanges; only the billing price source (binance) lists FDUSD/USDT
    for simulator in (sim, second_exchange):
        _market(simulator, "SOL/FDUSD", "150")
    _market(sim, "FDUSD/USDT", "0.998")
    make_provider(owner)  # curators approved the owner: its AI strategy's fee may be charged
    strategy = signal_only_strategy(owner, capital="100000", kind=Strategy.Kind.AI, copy_override_percent=Decimal("20"))
    account = _account_on(second_exchange, follower, "binanceus", {"USDT": "10000", "FDUSD": "10000"})
    copy = copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="multiplier", multiplier=Decimal("1")
    )

    # when: the leader buys 10 SOL at 150 FDUSD and sells them at 160 (FDUSD then at 0.999 USDT)
    _signal(strategy, "f1", "buy", symbol="SOL/FDUSD", price="150", amount="10")
    run_engine()
    for simulator in (sim, second_exchange):
        simulator.set_prices(prices={"SOL/FDUSD": "160"})
    sim.set_prices(prices={"FDUSD/USDT": "0.999"})
    _signal(strategy, "f2", "close", symbol="SOL/FDUSD", price="160")
    run_engine()

    # then: the follower's fills are on their exchange, and each is converted at the price source's rate
    entry, exit_ = CopiedTrade.objects.filter(copy=copy).order_by("sequence")
    assert (entry.status, exit_.status) == ("filled", "filled")
    assert len(second_exchange.orders(api_key=account.api_key)) == 2
    assert (entry.quote_currency, entry.quote_rate, exit_.quote_rate) == ("FDUSD", Decimal("0.998"), Decimal("0.999"))
    for trade in (entry, exit_):
        assert trade.pnl_billing == (trade.pnl_quote * trade.quote_rate).quantize(Decimal("0.00000001"))
    # ~100 FDUSD of profit less fees: about 99 USD, billed, not 0
    assert Decimal("90") < entry.pnl_billing + exit_.pnl_billing < Decimal("100")


@pytest.mark.django_db
def test_a_copied_trade_on_a_market_no_source_can_price_is_skipped_with_its_reason_before_any_order(
    sim, second_exchange, settings, owner, follower
):
    # given: the signal was accepted while the price source (binance) listed XYZ/USDT; the
    # operator has since made the follower's exchange the price source, and it lists no XYZ/USDT
    for simulator in (sim, second_exchange):
        _market(simulator, "SOL/XYZ", "150")
    _market(sim, "XYZ/USDT", "1")
    strategy = signal_only_strategy(owner, capital="100000")
    account = _account_on(second_exchange, follower, "binanceus", {"USDT": "10000", "XYZ": "10000"})
    copy = copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="multiplier", multiplier=Decimal("1")
    )
    _signal(strategy, "x1", "buy", symbol="SOL/XYZ", price="150", amount="10")
    settings.PAPER_PRICE_SOURCE = "binanceus"

    run_engine()

    (trade,) = CopiedTrade.objects.filter(copy=copy)
    assert (trade.status, trade.reason) == ("skipped", "quote_not_convertible")
    assert second_exchange.orders(api_key=account.api_key) == []
    (notice,) = Notification.objects.filter(user=follower, kind=Notification.Kind.COPIED_TRADE_SKIPPED)
    # The follower reads the reason's sentence, not the exchange's or the engine's own text.
    assert "a currency this platform cannot convert to bill it; no order was placed" in notice.body
