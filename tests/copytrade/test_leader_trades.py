"""Leader trades: their effect on the leader position (open, increase, reduce, close, flip),
sequence numbers, the leader's realised P&L and equity, and the REST way to send them."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from copytrade.models import LeaderPosition, LeaderTrade, Strategy
from copytrade.services.leader_trades import leader_trade_legs, leader_trade_record
from exchanges.types import MarketRules
from marketplace import metrics
from marketplace.track_record import strategy_track_record
from tests.copytrade import market_moves_to, record_fan_outs, signal_only_strategy, submit

SPOT = MarketRules(symbol="BTC/USDT", base="BTC", quote="USDT", type="spot", amount_step=Decimal("0.00001"), price_step=Decimal("0.01"))
SWAP = MarketRules(symbol="BTC/USDT:USDT", base="BTC", quote="USDT", type="swap", amount_step=Decimal("0.001"), price_step=Decimal("0.1"))


@pytest.fixture
def fan_outs(monkeypatch):
    return record_fan_outs(monkeypatch)


@pytest.fixture
def strategy(owner, simulated_binance):
    return signal_only_strategy(owner)


def _position(strategy, symbol="BTC/USDT") -> LeaderPosition:
    return LeaderPosition.objects.get(strategy=strategy, symbol=symbol)


def _swap_trade(strategy, external_id: str, side: str, amount: str | None, price: str, **extra):
    return leader_trade_record(
        strategy=strategy,
        external_id=external_id,
        symbol=SWAP.symbol,
        side=side,
        amount=Decimal(amount) if amount is not None else None,
        price=Decimal(price),
        traded_at=datetime.now(UTC),
        source=Strategy.Source.API,
        market=SWAP,
        **extra,
    )


@pytest.mark.django_db
def test_it_records_open_increase_reduce_by_fraction_and_close_with_the_leaders_realised_pnl(
    strategy, fan_outs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        opened = submit(strategy, "t1", "buy", amount="0.1", price="65000")
        increased = submit(strategy, "t2", "buy", amount="0.1", price="67000")
        reduced = submit(strategy, "t3", "sell", fraction="0.4", price="70000")
        closed = submit(strategy, "t4", "close", price="60000")

    trades = list(LeaderTrade.objects.order_by("sequence"))
    assert [(t.sequence, t.effect, t.side, t.amount) for t in trades] == [
        (1, "open", "buy", Decimal("0.1")),
        (2, "increase", "buy", Decimal("0.1")),
        (3, "reduce", "sell", Decimal("0.08")),
        (4, "close", "sell", Decimal("0.12")),
    ]
    assert [t.position_after for t in trades] == [Decimal("0.1"), Decimal("0.2"), Decimal("0.12"), Decimal("0")]
    assert [t.reduce_fraction for t in trades] == [None, None, Decimal("0.4"), Decimal("1")]
    assert [t.realized_pnl for t in trades] == [0, 0, Decimal("320"), Decimal("-720")]  # average entry 66,000
    assert [t.notional for t in trades] == [Decimal("6500"), Decimal("6700"), Decimal("5600"), Decimal("7200")]
    # A signal-only leader's equity is its declared capital plus what it has realised.
    assert [t.leader_equity for t in trades] == [Decimal("10000"), Decimal("10000"), Decimal("10000"), Decimal("10320")]
    position = _position(strategy)
    assert (position.quantity, position.average_entry, position.realized_pnl) == (0, 0, Decimal("-400"))
    assert [o.effect for o in (opened, increased, reduced, closed)] == ["open", "increase", "reduce", "close"]
    assert fan_outs == [t.pk for t in trades]
    strategy.refresh_from_db()
    assert strategy.last_sequence == 4


@pytest.mark.django_db
def test_it_reads_a_sell_of_part_of_the_position_as_a_reduction_by_that_fraction(strategy, fan_outs):
    submit(strategy, "t1", "buy", amount="0.2")

    submit(strategy, "t2", "sell", amount="0.05")

    reduction = LeaderTrade.objects.get(external_id="t2")
    assert (reduction.effect, reduction.reduce_fraction, reduction.position_after) == ("reduce", Decimal("0.25"), Decimal("0.15"))


@pytest.mark.django_db
def test_it_reads_a_sell_of_the_whole_position_as_a_close(strategy, fan_outs):
    submit(strategy, "t1", "buy", amount="0.2")

    submit(strategy, "t2", "sell", amount="0.2")

    assert LeaderTrade.objects.get(external_id="t2").effect == "close"
    assert _position(strategy).quantity == 0


@pytest.mark.django_db
def test_it_reads_a_fraction_of_one_as_a_close(strategy, fan_outs):
    submit(strategy, "t1", "buy", amount="0.2")

    submit(strategy, "t2", "sell", fraction="1")

    close = LeaderTrade.objects.get(external_id="t2")
    assert (close.effect, close.amount, close.reduce_fraction) == ("close", Decimal("0.2"), Decimal("1"))


@pytest.mark.django_db
def test_it_opens_again_after_a_close(strategy, fan_outs):
    submit(strategy, "t1", "buy", amount="0.1")
    submit(strategy, "t2", "close")

    submit(strategy, "t3", "buy", amount="0.3", price="50000")

    reopened = LeaderTrade.objects.get(external_id="t3")
    assert (reopened.effect, reopened.sequence) == ("open", 3)
    assert _position(strategy).average_entry == Decimal("50000")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("before", "signal", "message"),
    [
        ([], ("sell", {"amount": "0.1"}), "cannot sell more than the position on spot"),
        ([("buy", {"amount": "0.1"})], ("sell", {"amount": "0.2"}), "cannot sell more than the position on spot"),
        ([], ("close", {}), "no open BTC/USDT position to close"),
        ([], ("sell", {"fraction": "0.5"}), "no open BTC/USDT position to reduce"),
        ([("buy", {"amount": "0.1"})], ("buy", {"fraction": "0.5"}), "A fraction reduces the position"),
    ],
)
def test_it_keeps_spot_positions_long_only_and_refuses_reductions_of_nothing(
    client_for, owner, strategy, fan_outs, before, signal, message
):
    for index, (action, size) in enumerate(before):
        submit(strategy, f"before-{index}", action, **size)
    action, size = signal

    response = client_for(owner).post(
        f"/api/strategies/{strategy.pk}/trades/",
        {"external_id": "refused", "symbol": "BTC/USDT", "action": action, "price": "65000", **size},
        format="json",
    )

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert LeaderTrade.objects.count() == len(before)
    held = LeaderPosition.objects.filter(strategy=strategy).values_list("quantity", flat=True).first() or 0
    assert held == sum(Decimal(size["amount"]) for _, size in before)


@pytest.mark.django_db
def test_it_flips_a_swap_position_as_a_close_and_an_open(strategy, fan_outs, django_capture_on_commit_callbacks):
    _swap_trade(strategy, "t1", "buy", "0.1", "65000")

    with django_capture_on_commit_callbacks(execute=True):
        outcome = _swap_trade(strategy, "t2", "sell", "0.3", "66000", fee=Decimal("3"))

    assert outcome.effect == "flip"
    close, open_ = outcome.trades
    assert (close.external_id, close.sequence, close.effect, close.amount, close.position_after) == (
        "t2",
        2,
        "close",
        Decimal("0.1"),
        Decimal("0"),
    )
    assert (open_.external_id, open_.sequence, open_.effect, open_.amount, open_.position_after) == (
        "t2:flip",
        3,
        "open",
        Decimal("0.2"),
        Decimal("-0.2"),
    )
    # The fee is shared by amount, and the two parts add up to it exactly.
    assert (close.fee, open_.fee) == (Decimal("1"), Decimal("2"))
    assert close.realized_pnl == Decimal("99")  # 0.1 × (66,000 − 65,000) − its fee share
    assert open_.realized_pnl == Decimal("-2")
    assert fan_outs == [close.pk, open_.pk]
    position = _position(strategy, SWAP.symbol)
    assert (position.quantity, position.average_entry) == (Decimal("-0.2"), Decimal("66000"))


@pytest.mark.django_db
def test_it_records_a_flip_once_when_the_signal_is_sent_twice(strategy, fan_outs, django_capture_on_commit_callbacks):
    _swap_trade(strategy, "t1", "buy", "0.1", "65000")
    first = _swap_trade(strategy, "t2", "sell", "0.3", "66000")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = _swap_trade(strategy, "t2", "sell", "0.3", "66000")

    assert again.created is False
    assert [t.pk for t in again.trades] == [t.pk for t in first.trades]
    assert callbacks == []
    assert LeaderTrade.objects.count() == 3


@pytest.mark.django_db
def test_it_keeps_a_signed_short_position_on_swaps_and_realises_its_pnl(strategy, fan_outs):
    _swap_trade(strategy, "t1", "sell", "0.2", "66000")

    _swap_trade(strategy, "t2", "buy", "0.1", "64000")
    _swap_trade(strategy, "t3", "close", None, "65000")

    effects = list(LeaderTrade.objects.order_by("sequence").values_list("effect", "side", "position_after"))
    assert effects == [("open", "sell", Decimal("-0.2")), ("reduce", "buy", Decimal("-0.1")), ("close", "buy", Decimal("0"))]
    assert _position(strategy, SWAP.symbol).realized_pnl == Decimal("300")  # 0.1 × 2,000 + 0.1 × 1,000


def test_it_works_out_the_legs_of_a_trade_without_touching_the_database():
    assert [leg.effect for leg in leader_trade_legs(held=Decimal("0"), side="sell", amount=Decimal("1"), fraction=None, market=SWAP)] == [
        "open"
    ]
    legs = leader_trade_legs(held=Decimal("-1"), side="buy", amount=Decimal("3"), fraction=None, market=SWAP)
    assert [(leg.effect, leg.amount, leg.position_after) for leg in legs] == [
        ("close", Decimal("1"), 0),
        ("open", Decimal("2"), Decimal("2")),
    ]
    legs = leader_trade_legs(held=Decimal("3"), side="sell", amount=None, fraction=Decimal("0.5"), market=SPOT)
    assert [(leg.effect, leg.amount, leg.reduce_fraction) for leg in legs] == [("reduce", Decimal("1.5"), Decimal("0.5"))]


def test_a_close_order_that_filled_only_in_part_reduces_the_position():
    legs = leader_trade_legs(held=Decimal("-1"), side="close", amount=Decimal("0.4"), fraction=None, market=SWAP)

    assert [(leg.side, leg.effect, leg.amount, leg.reduce_fraction, leg.position_after) for leg in legs] == [
        ("buy", "reduce", Decimal("0.4"), Decimal("0.4"), Decimal("-0.6"))
    ]


@pytest.mark.django_db
def test_it_records_a_signal_sent_through_the_owners_rest_call(client_for, owner, strategy, fan_outs):
    response = client_for(owner).post(
        f"/api/strategies/{strategy.pk}/trades/",
        {"external_id": "rest-1", "symbol": "btcusdt", "action": "buy", "amount": "0.01", "price": "65000"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    trade = LeaderTrade.objects.get()
    assert (trade.symbol, trade.source, trade.external_id) == ("BTC/USDT", "api", "rest-1")
    listed = client_for(owner).get(f"/api/strategies/{strategy.pk}/trades/").json()
    assert [row["external_id"] for row in listed["results"]] == ["rest-1"]


@pytest.mark.django_db(transaction=True)
def test_it_numbers_concurrent_signals_without_gaps_or_duplicates(owner, simulated_binance, monkeypatch):
    fan_outs = record_fan_outs(monkeypatch)
    strategy = signal_only_strategy(owner)
    submit(strategy, "warm-up", "buy", amount="0.01")  # markets cached before the race
    errors = []
    barrier = threading.Barrier(4)

    def send(index: int):
        try:
            barrier.wait(timeout=10)
            submit(strategy, f"race-{index}", "buy", amount="0.01")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(LeaderTrade.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4, 5]
    assert _position(strategy).quantity == Decimal("0.05")
    assert len(fan_outs) == 5


@pytest.mark.django_db
def test_it_hands_a_new_leader_trade_to_the_fan_out_queue_on_commit_and_stamps_when(
    owner, simulated_binance, django_capture_on_commit_callbacks
):
    strategy = signal_only_strategy(owner)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcome = submit(strategy, "queued-1", "buy", amount="0.01")

    trade = LeaderTrade.objects.get(pk=outcome.trades[0].pk)
    assert len(callbacks) == 1
    assert trade.fanout_enqueued_at is not None and trade.fanout_enqueued_at >= trade.recorded_at


@pytest.mark.django_db
def test_a_record_sent_with_padded_prices_holds_the_markets_pnl(client_for, owner, strategy, fan_outs):
    # given a leader who declares each price 1.9 % in their favour (inside the tolerance)
    market_moves_to("65000")
    bought = _rest_signal_with_price(client_for(owner), strategy, "t1", "buy", declared="63765", amount="0.1")
    market_moves_to("66000")
    sold = _rest_signal_with_price(client_for(owner), strategy, "t2", "close", declared="67254")

    # then the record, its P&L and the metrics built from it hold the market's prices
    assert (bought.price, bought.declared_price, sold.price, sold.declared_price) == (65000, 63765, 66000, 67254)
    assert sold.realized_pnl == Decimal("100")  # (66,000 − 65,000) × 0.1, not (67,254 − 63,765) × 0.1
    assert _position(strategy).realized_pnl == Decimal("100")
    today = timezone.now().date()
    record = strategy_track_record(strategy=strategy, as_of=today, fetch_candles=True)
    assert [pnl for _, pnl in record.closed_trade_pnls] == [Decimal("100")]
    assert metrics.compute_all(record.equity, record.closed_trade_pnls, today)["all"].total_return == pytest.approx(100 / 10000)


@pytest.mark.django_db
def test_it_refuses_a_rest_signal_six_percent_off_the_market_naming_both_prices(client_for, owner, strategy, fan_outs):
    market_moves_to("50000")

    response = client_for(owner).post(
        f"/api/strategies/{strategy.pk}/trades/",
        {"external_id": "rest-1", "symbol": "BTC/USDT", "action": "buy", "amount": "0.01", "price": "53000"},
        format="json",
    )

    assert response.status_code == 400
    assert "53000" in response.json()["message"] and "50000" in response.json()["message"]
    assert LeaderTrade.objects.count() == 0 and fan_outs == []


def _rest_signal_with_price(client, strategy, external_id: str, action: str, *, declared: str, **size) -> LeaderTrade:
    response = client.post(
        f"/api/strategies/{strategy.pk}/trades/",
        {"external_id": external_id, "symbol": "BTC/USDT", "action": action, "price": declared, **size},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return LeaderTrade.objects.get(external_id=external_id)
