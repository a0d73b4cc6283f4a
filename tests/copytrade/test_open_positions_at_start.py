"""Open positions at start, over the wire to the loopback simulator: off by default; on, each
position the leader holds is opened for this copy only where the price is not worse than the
leader's entry by more than the copy's slippage limit; the others are skipped with the reason
and followed from the leader's next trade."""

from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade, FollowerPosition, Strategy
from copytrade.reasons import copied_trade_reason_text
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from tests.copytrade import market_moves_to, submit
from tests.copytrade.test_execution import run_engine, sim, start_copy, strategy  # noqa: F401 (fixtures)
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _eth_buy(strategy: Strategy, external_id: str, amount: str, price: str):
    market_moves_to(price, symbol="ETH/USDT")
    signal = LeaderSignal(external_id=external_id, symbol="ETH/USDT", action="buy", price=Decimal(price), amount=Decimal(amount))
    return leader_signal_submit(strategy_id=strategy.pk, signal=signal, source=Strategy.Source.API)


def _rows(copy) -> list[tuple[str, str, str, str]]:
    return [(t.symbol, t.kind, t.status, t.reason) for t in CopiedTrade.objects.filter(copy=copy).order_by("sequence")]


def test_one_position_is_opened_at_start_and_one_worse_than_the_leaders_entry_is_skipped(sim, strategy, follower):
    # the leader holds 1 BTC from 65,000 and 10 ETH from 3,500 before anyone copies
    submit(strategy, "b1", "buy", amount="1", price="65000")
    _eth_buy(strategy, "e1", "10", "3500")
    run_engine()
    sim.set_price(symbol="BTC/USDT", price="65100")  # 0.15 % worse than the leader's entry: within 1 %
    market_moves_to("3600", symbol="ETH/USDT")  # 2.86 % worse: past it

    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"), open_positions_at_start=True)
    unchosen = start_copy(sim, make_user("other"), strategy, allocation_percent=Decimal("50"))
    run_engine()

    assert _rows(copy) == [
        ("BTC/USDT", "start_open", "filled", ""),
        ("ETH/USDT", "start_open", "skipped", "start_price_worse"),
    ]
    # sized as the leader's position: 65,000 of 100,000 → 3,250 of the copy's 5,000, at 65,100
    assert [(o["side"], o["symbol"], Decimal(o["amount"])) for o in sim.orders(api_key=copy.exchange_account.api_key)] == [
        ("BUY", "BTCUSDT", Decimal("0.04992"))
    ]
    skipped = CopiedTrade.objects.get(copy=copy, symbol="ETH/USDT")
    assert copied_trade_reason_text(skipped) == (
        "the price (3,600) was 2.86 % worse than the leader's entry (3,500), more than your slippage limit of 1 %; "
        "the copy follows ETH/USDT from the leader's next trade"
    )
    assert _rows(unchosen) == []  # off by default

    # the leader's exit is followed like any other
    submit(strategy, "b2", "close", price="65100")
    run_engine()
    assert _rows(copy)[-1] == ("BTC/USDT", "mirror", "filled", "")
    assert FollowerPosition.objects.get(copy=copy, symbol="BTC/USDT").quantity == 0
    assert not FollowerPosition.objects.filter(copy=unchosen).exclude(quantity=0).exists()


def test_the_api_starts_a_copy_that_opens_the_leaders_positions(client_for, sim, strategy, follower):
    from tests.copytrade import simulator_account

    submit(strategy, "b1", "buy", amount="1", price="65000")
    run_engine()
    account = simulator_account(sim, follower, usdt="10000")

    started = client_for(follower).post(
        "/api/copy-trading/start",
        {"strategy_id": strategy.pk, "exchange_account_id": account.pk, "allocation_percent": "50", "open_positions_at_start": True},
        format="json",
    )

    assert started.status_code == 201, started.json()
    assert started.json()["open_positions_at_start"] is True
    assert CopiedTrade.objects.filter(copy_id=started.json()["id"], kind="start_open", symbol="BTC/USDT").count() == 1
