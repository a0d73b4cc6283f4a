"""The whole engine through a real Celery worker process and the loopback simulator:
leader signal → on_commit → fan-out task → one execution task per follower → orders.

Data is committed (`transactional_db`): the worker has its own database connections.
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest
from django.contrib.auth import get_user_model

from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade, Strategy
from copytrade.services.copies import copy_start
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from copytrade.services.sweeper import copied_trades_sweep
from exchanges.models import ExchangeAccount
from tests.copytrade import signal_only_strategy, submit

pytestmark = [pytest.mark.worker, pytest.mark.slow]

OPEN = (CopiedTrade.Status.PENDING, CopiedTrade.Status.EXECUTING)
STEP = Decimal("0.00001")  # the simulator's BTCUSDT LOT_SIZE step
MIN_COST = Decimal("5")  # its NOTIONAL minimum
COMMISSION = Decimal("0.001")
EIGHT = Decimal("0.00000001")
LEADER_CAPITAL = Decimal("100000")


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    return simulated_binance


@pytest.fixture
def strategy(sim, transactional_db, owner):
    return signal_only_strategy(owner, capital=str(LEADER_CAPITAL))


@dataclass
class Follower:
    usdt: Decimal
    options: dict
    copy: Copy | None = None
    expected_orders: list = field(default_factory=list)
    expected_rows: list = field(default_factory=list)


def start_followers(sim, strategy, followers: list[Follower]) -> None:
    users = get_user_model().objects
    for index, follower in enumerate(followers):
        user = users.create_user(username=f"copier{index}", password="copier-pass-123", email=f"copier{index}@example.com")
        credentials = sim.create_account(balances={"USDT": str(follower.usdt)})
        account = ExchangeAccount.objects.create(
            owner=user, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
        )
        follower.copy = copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, **follower.options)


def wait_for(predicate, *, what: str, worker, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)  # a polling interval, not a synchronisation
    raise AssertionError(f"{what}: not within {timeout}s\n--- worker log ---\n{worker.log_text()[-4000:]}")


def all_copied(*leader_trades) -> bool:
    ids = [t.pk for t in leader_trades]
    done = LeaderTrade.objects.filter(id__in=ids, fanout_done_at__isnull=False).count() == len(ids)
    return done and not CopiedTrade.objects.filter(leader_trade_id__in=ids, status__in=OPEN).exists()


def truncate_to_step(amount: Decimal) -> Decimal:
    return (amount / STEP).to_integral_value(rounding=ROUND_DOWN) * STEP


def simulator_fee(amount: Decimal, price: Decimal) -> Decimal:
    cost = (amount * price).quantize(EIGHT, rounding=ROUND_HALF_UP)
    return (cost * COMMISSION).quantize(EIGHT, rounding=ROUND_HALF_UP)


def expect(follower: Follower, *, entries: list[tuple[str, Decimal, Decimal]], reduce: tuple[Decimal, Decimal]) -> None:
    """The orders and copied-trade outcomes ARCHITECTURE.md's sizing rules give, computed
    independently of the engine: entries by mode, truncated to the step, skipped under the
    minimum; then 40 % of what is held, then all of it (at 66,000 whatever was bought is
    worth at least the 5 USDT minimum, so every close is placed)."""
    options = follower.options
    capital = (follower.usdt * options["allocation_percent"] / 100) if "allocation_percent" in options else None
    realised, held = Decimal(0), Decimal(0)
    for effect, leader_notional, price in entries:
        if capital is not None:
            notional = leader_notional * (capital + realised) / LEADER_CAPITAL
        elif "multiplier" in options:
            notional = leader_notional * options["multiplier"]
        else:
            notional = options["fixed_notional"]
        amount = truncate_to_step(notional / price)
        if amount < STEP or amount * price < MIN_COST:
            follower.expected_rows.append((effect, "skipped", "below_exchange_minimum"))
            continue
        follower.expected_orders.append(("BUY", amount))
        follower.expected_rows.append((effect, "filled", ""))
        realised -= simulator_fee(amount, price)
        held += amount
    if held == 0:
        return  # nothing held, nothing in flight: exits are not fanned out to this copy
    fraction, reduce_price = reduce
    part = truncate_to_step(held * fraction)
    if part * reduce_price < MIN_COST:
        follower.expected_rows.append(("reduce", "skipped", "below_exchange_minimum"))
    else:
        follower.expected_orders.append(("SELL", part))
        follower.expected_rows.append(("reduce", "filled", ""))
        held -= part
    follower.expected_orders.append(("SELL", held))
    follower.expected_rows.append(("close", "filled", ""))


def two_hundred_followers() -> list[Follower]:
    fixed = [Decimal(n) for n in ("2", "4", "6", "8", "10", "13", "20", "50", "150")]
    followers = []
    for index in range(200):
        usdt = Decimal(2000 + (index * 137) % 18000)
        mode = index % 3
        if mode == 0:
            options = {"allocation_percent": Decimal(1 + (index * 7) % 100)}
        elif mode == 1:
            options = {"sizing_mode": "multiplier", "multiplier": Decimal("0.001") * (1 + (index * 11) % 60)}
        else:
            options = {"sizing_mode": "fixed", "fixed_notional": fixed[(index // 3) % len(fixed)]}
        followers.append(Follower(usdt=usdt, options=options))
    return followers


def test_it_copies_open_increase_reduce_and_close_to_200_followers_in_three_sizing_modes(sim, strategy, celery_worker):
    followers = two_hundred_followers()
    start_followers(sim, strategy, followers)
    steps = [
        ("t1", "buy", {"amount": "0.05"}, "65000"),  # open: 3,250 USDT of a 100,000 USDT leader
        ("t2", "buy", {"amount": "0.03"}, "66000"),  # increase: 1,980 USDT
        ("t3", "sell", {"fraction": "0.4"}, "67000"),  # reduce by 40 %
        ("t4", "close", {}, "66000"),
    ]

    # when the leader trades, one step at a time (each at the follower's price)
    trades = []
    for external_id, action, size, price in steps:
        sim.set_price(symbol="BTC/USDT", price=price)
        [trade] = submit(strategy, external_id, action, price=price, **size).trades
        trades.append(trade)
        wait_for(lambda trade=trade: all_copied(trade), what=f"copies of {external_id}", worker=celery_worker)

    # then every follower's orders at the simulator are exactly the sizing rules' orders
    for follower in followers:
        expect(
            follower,
            entries=[("open", Decimal("3250"), Decimal("65000")), ("increase", Decimal("1980"), Decimal("66000"))],
            reduce=(Decimal("0.4"), Decimal("67000")),
        )
    orders = {}
    for order in sim.orders():
        orders.setdefault(order["api_key"], []).append((order["side"], Decimal(order["amount"])))
    mismatches = []
    for index, follower in enumerate(followers):
        copy = follower.copy
        rows = [(t.effect, t.status, t.reason) for t in CopiedTrade.objects.filter(copy=copy).order_by("sequence")]
        if orders.get(copy.exchange_account.api_key, []) != follower.expected_orders or rows != follower.expected_rows:
            mismatches.append((index, follower.options, orders.get(copy.exchange_account.api_key), follower.expected_orders, rows))
    assert mismatches == []
    skipped = sum(1 for f in followers for row in f.expected_rows if row[2] == "below_exchange_minimum")
    assert skipped > 10  # the population does exercise the minimum
    assert {len(f.expected_orders) for f in followers} >= {0, 2, 3, 4}

    # positions end at zero, and the realised P&L is what the simulator's fills paid out
    assert not FollowerPosition.objects.exclude(quantity=0).exists()
    for follower in followers:
        copy = Copy.objects.get(pk=follower.copy.pk)
        balances = sim.account(api_key=follower.copy.exchange_account.api_key)["balances"]
        usdt_change = Decimal(balances["USDT"]["free"]) - follower.usdt
        assert abs(copy.realized_pnl - usdt_change) < Decimal("0.0000001"), follower.options
        assert copy.realized_pnl == sum((t.pnl_billing for t in CopiedTrade.objects.filter(copy=copy)), Decimal(0))
        assert Decimal(balances.get("BTC", {"free": "0"})["free"]) == 0


def fixed_followers(count: int, notional: str = "50") -> list[Follower]:
    return [Follower(usdt=Decimal("1000"), options={"sizing_mode": "fixed", "fixed_notional": Decimal(notional)}) for _ in range(count)]


def test_each_order_reaches_the_exchange_exactly_once_through_a_crash_timeouts_and_429s(sim, strategy, celery_worker, settings):
    # given a worker whose claims expire fast, and an exchange that is slow, rate limits
    # 15 % of order requests and times out on another 15 % after taking the order
    settings.COPYTRADE_EXECUTION_LEASE_SECONDS = 5
    settings.EXCHANGE_TIMEOUT_MS = 1000
    celery_worker.restart()
    followers = fixed_followers(120)
    start_followers(sim, strategy, followers)
    sim.set_faults(
        latency_ms=30,
        retry_after_s=0,
        rates={"429": 0.15, "timeout_after_accept": 0.15},
        match=["POST /api/v3/order"],
        timeout_mode="delay",
        timeout_delay_ms=2000,
    )

    # when the leader trades, the worker is SIGKILLed as soon as the fan-out has inserted
    # its rows (while it enqueues them, or just after), and again with the orders half placed
    [trade] = submit(strategy, "t1", "buy", amount="0.05", price="65000").trades
    wait_for(lambda: CopiedTrade.objects.filter(leader_trade=trade).exists(), what="the fan-out", worker=celery_worker)
    celery_worker.kill()
    celery_worker.start()
    copied_trades_sweep(stuck_after=timedelta(0))  # whatever the fan-out left undone
    wait_for(lambda: sim.stats()["orders_accepted"] >= 30, what="the first orders", worker=celery_worker)
    celery_worker.kill()
    placed_before_crash = sim.stats()["orders_accepted"]
    stranded = CopiedTrade.objects.filter(leader_trade=trade, status__in=OPEN).count()
    celery_worker.start()

    # and the sweeper (beat, every minute) re-enqueues what the dead worker held
    def swept_and_done() -> bool:
        copied_trades_sweep(stuck_after=timedelta(seconds=2))
        return all_copied(trade)

    wait_for(swept_and_done, what="every copy settled after the crash", worker=celery_worker, timeout=120)

    # then the simulator's log holds exactly one order per (leader trade, follower)
    rows = list(CopiedTrade.objects.filter(leader_trade=trade))
    counts = sim.order_counts()
    stats = sim.stats()
    assert placed_before_crash < len(followers) and stranded > 0
    assert stats["faults"].get("429", 0) > 0 and stats["faults"].get("timeout_after_accept", 0) > 0
    assert len(rows) == len(followers)
    assert {row.status for row in rows} == {"filled"}
    assert counts == {row.client_order_id: 1 for row in rows}
    assert all(row.filled_amount == Decimal("0.00076") for row in rows)  # 50 USDT at 65,000


def test_two_leader_trades_1_ms_apart_execute_in_order_for_every_follower(sim, strategy, celery_worker):
    followers = fixed_followers(40)
    start_followers(sim, strategy, followers)
    # the first ten orders are rate limited: those opens run late, after the closes are queued
    sim.set_faults(queue=["429"] * 10, match=["POST /api/v3/order"], retry_after_s=1)
    sent = datetime.now(UTC)

    opened = leader_signal_submit(
        strategy_id=strategy.pk,
        signal=LeaderSignal(external_id="a", symbol="BTC/USDT", action="buy", amount=Decimal("0.05"), price=Decimal("65000"), sent_at=sent),
        source=Strategy.Source.API,
    ).trades[0]
    closed = leader_signal_submit(
        strategy_id=strategy.pk,
        signal=LeaderSignal(
            external_id="b", symbol="BTC/USDT", action="close", price=Decimal("65000"), sent_at=sent + timedelta(milliseconds=1)
        ),
        source=Strategy.Source.API,
    ).trades[0]
    wait_for(lambda: all_copied(opened, closed), what="both trades copied", worker=celery_worker)

    for follower in followers:
        orders = sim.orders(api_key=follower.copy.exchange_account.api_key)
        rows = list(CopiedTrade.objects.filter(copy=follower.copy).order_by("sequence"))
        assert [(o["side"], o["amount"]) for o in orders] == [("BUY", "0.00076"), ("SELL", "0.00076")]
        assert [(r.effect, r.status) for r in rows] == [("open", "filled"), ("close", "filled")]
        assert rows[0].acknowledged_at <= rows[1].submitted_at
    assert not FollowerPosition.objects.exclude(quantity=0).exists()
    assert sim.stats()["faults"]["429"] == 10
