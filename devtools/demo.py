"""The `make demo` story: a month of copy trading replayed end to end.

Three leaders (an AI strategy and two marketplace providers, one pending until the demo
curator approves it) trade last month from a generated price path; followers on paper and
simulator accounts copy them through the real fan-out and a real Celery worker. Then the
daily jobs (metrics, track-record verification) and the monthly billing run, a Stripe
payment webhook per invoice, and the payouts. A fourth leader, Carol, applies late in the
month and is left pending: her application is the demo curator's to decide in admin.

The replay: before each leader trade the simulator's market moves to that moment's price
(and records it as price history, so candles and verification see it); the signal sends
no price, so the trade is recorded at the market's, as every signal-only trade is.
Followers execute now, and once a trade's copies are done its time and theirs are moved
back to the replayed moment, keeping each copy's real latency. Before the month, the AI
strategy and Alice replay a record of their own (no followers yet), long enough for the
leaderboard to rank them. Only users named demo-* are touched.
"""

import json
import logging
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TextIO

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.test import Client
from django.utils import timezone

from billing.erasure import users_delete
from billing.models import BillingAccount, Invoice, InvoiceLine, Payout
from billing.roles import billing_group
from billing.services import billing_period_run, payouts_run
from copytrade.models import CopiedTrade, Copy, LeaderTrade, Strategy
from copytrade.reasons import reason_label
from copytrade.services.copies import copy_start
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from copytrade.services.strategies import strategy_create
from core.models import Notification
from core.profiles import profile_create
from devtools.processes import wait_until
from devtools.simulator.client import SimulatorClient
from devtools.stripe_standin.client import build_event, sign_webhook_payload
from exchanges.models import Candle
from exchanges.services import exchange_account_create
from marketplace.models import SignalProvider, TradeVerification
from marketplace.services import curators_group, provider_apply, provider_transition, rating_allowed, rating_upsert
from marketplace.tasks import run_strategy_daily_checks
from marketplace.track_record import provider_metrics_recalculate, strategies_metrics_recalculate

PREFIX = "demo-"
CURATOR_PASSWORD = "demo-curator-password"
BILLING_PASSWORD = "demo-billing-password"
# The web app's demo logins (follower, leader, provider); the curator signs in with its own.
WEB_PASSWORD = "demo-web-password"
WEB_URL = "http://127.0.0.1:8000/"
STARTING_USDT = Decimal("10000")
PRICES = {"BTC/USDT": Decimal("65000"), "ETH/USDT": Decimal("3500"), "SOL/USDT": Decimal("150")}


@dataclass
class LeaderSpec:
    key: str
    username: str
    strategy: str
    kind: str
    capital: Decimal
    symbol: str
    provider: dict  # the leader's provider application (the AI lab's too: its strategy charges a fee)
    public: bool = True  # on the leaderboard (a pending applicant is not yet)


LEADERS = [
    LeaderSpec(
        "ai",
        "demo-ai-lab",
        "Momentum AI",
        Strategy.Kind.AI,
        Decimal("100000"),
        "BTC/USDT",
        provider={
            "display_name": "Momentum Lab",
            "risk_level": "medium",
            "subscription_fee_monthly": Decimal("0"),
            "performance_fee_percent": Decimal("0"),
        },
    ),
    LeaderSpec(
        "alice",
        "demo-alice",
        "Alice Swing",
        Strategy.Kind.MANUAL,
        Decimal("50000"),
        "ETH/USDT",
        provider={
            "display_name": "Alice",
            "risk_level": "medium",
            "subscription_fee_monthly": Decimal("29"),
            "performance_fee_percent": Decimal("20"),
        },
    ),
    LeaderSpec(
        "bob",
        "demo-bob",
        "Bob Breakout",
        Strategy.Kind.MANUAL,
        Decimal("50000"),
        "SOL/USDT",
        provider={
            "display_name": "Bob",
            "risk_level": "high",
            "subscription_fee_monthly": Decimal("0"),
            "performance_fee_percent": Decimal("10"),
        },
    ),
    LeaderSpec(
        "carol",
        "demo-carol",
        "Carol Carry",
        Strategy.Kind.MANUAL,
        Decimal("20000"),
        "ETH/USDT",
        public=False,
        provider={
            "display_name": "Carol",
            "risk_level": "low",
            "subscription_fee_monthly": Decimal("15"),
            "performance_fee_percent": Decimal("15"),
        },
    ),
]

# (day, leader, action, size): size is USD for buys, the fraction for sells, None for a close.
PLAN = [
    (1, "ai", "buy", Decimal("30000")),
    (2, "alice", "buy", Decimal("12000")),
    (4, "ai", "buy", Decimal("15000")),
    (7, "alice", "sell", Decimal("0.5")),
    (9, "ai", "sell", Decimal("0.4")),
    (11, "alice", "close", None),
    (12, "bob", "buy", Decimal("10000")),  # Bob is approved on day 10
    (13, "alice", "buy", Decimal("12000")),  # the market moves 0.6 % before followers fill: a slippage skip
    (14, "ai", "close", None),
    (16, "ai", "buy", Decimal("40000")),
    (18, "ai", "buy", Decimal("10000")),  # after an 9 % drop: trips a tight copy stop-loss
    (19, "bob", "close", None),
    (20, "alice", "close", None),
    (21, "carol", "buy", Decimal("5000")),  # Carol trades while her application waits
    (22, "ai", "sell", Decimal("0.5")),
    (23, "bob", "buy", Decimal("10000")),
    (24, "alice", "buy", Decimal("8000")),
    (26, "carol", "close", None),
    (27, "ai", "close", None),
    (28, "bob", "close", None),
    (29, "alice", "close", None),
]
BOB_APPROVED_ON = 10
SLIPPAGE_DAY = 13
# Daily drift per symbol, with a drop before day 18 for BTC (the stop-loss) and noise.
DRIFT = {"BTC/USDT": Decimal("0.006"), "ETH/USDT": Decimal("0.004"), "SOL/USDT": Decimal("0.008")}


@dataclass
class Story:
    period: date
    days: int
    followers: int
    simulator: SimulatorClient
    say: object  # callable(str)
    table: object  # callable(headers, rows)
    progress: object  # callable(total, desc) -> tqdm-like
    strategies: dict[str, Strategy] = field(default_factory=dict)
    providers: dict[str, SignalProvider] = field(default_factory=dict)
    curator: object = None
    follower_users: list = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def previous_month(today: date) -> date:
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def price_path(*, period: date, days: int, seed: int = 7) -> dict[str, list[Decimal]]:
    """Daily prices per symbol (index 0 = day 1), deterministic."""
    rng = random.Random(seed)
    path = {}
    for symbol, start in PRICES.items():
        prices, price = [], start
        for day in range(1, days + 1):
            move = DRIFT[symbol] + Decimal(str(round(rng.uniform(-0.012, 0.012), 5)))
            if symbol == "BTC/USDT" and day == 17:
                move = Decimal("-0.09")
            elif symbol == "BTC/USDT" and day > 17:
                move += Decimal("0.008")  # the recovery
            price = (price * (1 + move)).quantize(Decimal("0.01"))
            prices.append(price)
        path[symbol] = prices
    return path


def history_plan(*, period: date) -> tuple[date, list[tuple[int, str, str, Decimal | None]]]:
    """The record the AI strategy and Alice built before the month: (first day, [(day
    offset, leader, action, size)]), a buy and its close every three days, long enough in days
    and closed trades for the leaderboard to rank them (LEADERBOARD_MIN_DAYS,
    LEADERBOARD_MIN_CLOSED_TRADES)."""
    closes = settings.LEADERBOARD_MIN_CLOSED_TRADES + 1
    days = max(settings.LEADERBOARD_MIN_DAYS + 2, 3 * closes + 1)
    plan = []
    for index in range(closes):
        plan += [(3 * index + 1, "ai", "buy", Decimal("20000")), (3 * index + 2, "alice", "buy", Decimal("8000"))]
        plan += [(3 * index + 2, "ai", "close", None), (3 * index + 3, "alice", "close", None)]
    return period - timedelta(days=days), sorted(plan, key=lambda step: step[0])


def history_path(*, first_day: date, days: int, seed: int = 11) -> dict[str, list[Decimal]]:
    """Daily prices per symbol from `first_day` (index 0) that arrive at `PRICES` on the
    month's first day, deterministic."""
    rng = random.Random(seed)
    path = {}
    for symbol, end in PRICES.items():
        prices, price = [], end
        for _ in range(days):
            price = (price / (1 + DRIFT[symbol] / 2 + Decimal(str(round(rng.uniform(-0.015, 0.015), 5))))).quantize(Decimal("0.01"))
            prices.append(price)
        path[symbol] = prices[::-1]
    return path


def demo_reset() -> None:
    """Delete the demo-* users and everything they own."""
    users_delete(username_prefix=PREFIX)


def _forget_replayed_candles(period: date) -> None:
    """Candles from the replayed history on came from an earlier run's generated prices (the
    simulator is the demo's only exchange): drop them so this run's are fetched. Those after
    the month too: the metrics fetch only the days after the latest stored candle, so one
    left from last run would hide the whole month."""
    first_day, _ = history_plan(period=period)
    Candle.objects.filter(exchange_id="binance", symbol__in=list(PRICES), open_time__gte=_at(first_day, first_day.day, 0)).delete()


# --- the story ---------------------------------------------------------------------------


@contextmanager
def logging_to(stream: TextIO):
    """Every log line of this process goes to `stream` (the demo's log file, beside the worker's
    and the simulator's output) instead of the terminal, where the story is told; the
    handlers' filters (secret redaction) stay as they are."""
    root = logging.getLogger()
    consoles = [handler for handler in root.handlers if type(handler) is logging.StreamHandler]
    to_file = logging.StreamHandler(stream)
    for handler in consoles[:1]:
        to_file.setFormatter(handler.formatter)
        for log_filter in handler.filters:
            to_file.addFilter(log_filter)
    for handler in consoles:
        root.removeHandler(handler)
    root.addHandler(to_file)
    try:
        yield
    finally:
        root.removeHandler(to_file)
        for handler in consoles:
            root.addHandler(handler)


def run(story: Story) -> None:
    demo_reset()
    _forget_replayed_candles(story.period)
    story.say(f"demo data reset; replaying {story.period:%B %Y} ({story.days} days) with {story.followers} followers")
    path = price_path(period=story.period, days=story.days)
    _cast(story)
    _history(story)
    _followers(story, day=1)
    _replay(story, path)
    _daily_jobs(story)
    _ratings(story)
    _billing(story)
    logins = _web_logins(story)
    _where_next(story, logins)


def _cast(story: Story) -> None:
    User = get_user_model()
    curator = User.objects.create_user(username=f"{PREFIX}curator", email="curator@demo.invalid", password=CURATOR_PASSWORD, is_staff=True)
    curator.groups.add(curators_group())
    story.curator = curator
    billing = User.objects.create_user(username=f"{PREFIX}billing", email="billing@demo.invalid", password=BILLING_PASSWORD, is_staff=True)
    billing.groups.add(billing_group())
    for spec in LEADERS:
        leader = User.objects.create_user(username=spec.username, email=f"{spec.key}@demo.invalid")
        profile_create(user=leader, display_name=spec.provider["display_name"])
        story.strategies[spec.key] = strategy_create(
            owner=leader,
            name=spec.strategy,
            kind=spec.kind,
            declared_capital=spec.capital,
            is_public_leader=spec.public,
            description=f"Trades {spec.symbol}.",
        )
        story.providers[spec.key] = provider_apply(user=leader, trading_strategy=f"{spec.symbol} swings", **spec.provider)
    story.providers["alice"] = provider_transition(
        provider_id=story.providers["alice"].pk, action="approve", actor=curator, reason="Track record and risk disclosure reviewed."
    )
    # An AI strategy that charges a fee is copied once curators approve its owner, as a provider is.
    story.providers["ai"] = provider_transition(
        provider_id=story.providers["ai"].pk, action="approve", actor=curator, reason="Model, record and fee reviewed."
    )
    BillingAccount.objects.create(user=User.objects.get(username="demo-ai-lab"), stripe_connect_account_id="acct_demoailab")
    story.table(
        ["leader", "strategy", "kind", "symbol", "capital", "marketplace"],
        [
            (
                spec.username,
                spec.strategy,
                spec.kind,
                spec.symbol,
                spec.capital,
                f"{story.providers[spec.key].status}{', AI program (40/60)' if spec.kind == Strategy.Kind.AI else ''}",
            )
            for spec in LEADERS
        ],
    )


def _follower_settings(index: int) -> dict:
    """Mixed sizing modes; follower 1 has a tight stop-loss, follower 2 a tight slippage guard."""
    mode = ("proportional", "multiplier", "fixed")[index % 3]
    copy_settings = {"sizing_mode": mode}
    if mode == "proportional":
        copy_settings["allocation_percent"] = Decimal("40")
    elif mode == "multiplier":
        copy_settings["multiplier"] = Decimal("0.04")
    else:
        copy_settings["fixed_notional"] = Decimal("400")
    if index == 1:
        copy_settings.update(
            sizing_mode="multiplier",
            multiplier=Decimal("0.15"),
            allocation_percent=None,
            fixed_notional=None,
            max_drawdown_stop=Decimal("4"),
        )
    if index == 2:
        copy_settings["max_slippage_percent"] = Decimal("0.3")
    return copy_settings


def _followers(story: Story, *, day: int) -> None:
    User = get_user_model()
    bar = story.progress(story.followers, "followers")
    for index in range(1, story.followers + 1):
        user = User.objects.create_user(username=f"{PREFIX}follower-{index:02d}", email=f"follower{index}@demo.invalid")
        profile_create(user=user, display_name=f"Demo Follower {index:02d}")
        if index % 2:
            credentials = story.simulator.create_account(balances={"USDT": str(STARTING_USDT)})
            account = exchange_account_create(
                owner=user, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
            )
        else:
            account = exchange_account_create(owner=user, exchange_id="paper", label="Paper", starting_balance={"USDT": STARTING_USDT})
        copy_settings = _follower_settings(index)
        copy_start(follower=user, strategy_id=story.strategies["ai"].pk, exchange_account_id=account.pk, **copy_settings)
        if index % 3 != 0 and index != 1:  # follower 1 puts everything on the AI strategy
            alice = (
                {**copy_settings, "allocation_percent": Decimal("30")} if copy_settings["sizing_mode"] == "proportional" else copy_settings
            )
            copy_start(follower=user, strategy_id=story.strategies["alice"].pk, exchange_account_id=account.pk, **alice)
        story.follower_users.append((user, account))
        bar.update(1)
    bar.close()
    Copy.objects.filter(follower__username__startswith=PREFIX).update(started_at=_at(story.period, day, 0))


def _bob_approved(story: Story, day: int) -> None:
    story.providers["bob"] = provider_transition(
        provider_id=story.providers["bob"].pk, action="approve", actor=story.curator, reason="Verified exchange statements."
    )
    joined = 0
    for user, account in story.follower_users[-max(2, story.followers // 5) :]:
        copy_start(
            follower=user,
            strategy_id=story.strategies["bob"].pk,
            exchange_account_id=account.pk,
            sizing_mode="fixed",
            fixed_notional=Decimal("300"),
        )
        joined += 1
    Copy.objects.filter(strategy=story.strategies["bob"]).update(started_at=_at(story.period, day, 12))
    story.events.append(f"day {day}: curator approved Bob (pending until now); {joined} followers started copying him")


def _history(story: Story) -> None:
    """The AI strategy's and Alice's record before the month, at the market's prices."""
    first_day, plan = history_plan(period=story.period)
    days = (story.period - first_day).days
    path = history_path(first_day=first_day, days=days)
    symbols = {spec.key: spec.symbol for spec in LEADERS}
    bar = story.progress(len(plan), "their record")
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        story.simulator.add_ticks(
            ticks=[
                {"symbol": s.replace("/", ""), "price": str(path[s][offset]), "timestamp": _ms(_at(day, day.day, 23, 59))} for s in PRICES
            ]
        )
        for step_day, key, action, size in plan:
            if step_day == offset + 1:
                symbol = symbols[key]
                _trade(
                    story,
                    key=key,
                    moment=_at(day, day.day, 14, 30),
                    external_id=f"demo-{key}-history-{offset + 1}",
                    symbol=symbol,
                    action=action,
                    size=size,
                    price=path[symbol][offset],
                )
                bar.update(1)
    bar.close()
    story.say(
        f"the AI strategy and Alice replayed {days} days of record before {story.period:%B} "
        f"({len(plan) // 4} closed trades each, at the market's prices), enough for the leaderboard to rank them"
    )


def _replay(story: Story, path: dict[str, list[Decimal]]) -> None:
    symbols = {spec.key: spec.symbol for spec in LEADERS}
    plan = [step for step in PLAN if step[0] <= story.days]
    bar = story.progress(len(plan), "leader trades")
    for day in range(1, story.days + 1):
        # The day's closes: price history the simulator serves as candles.
        story.simulator.add_ticks(
            ticks=[
                {"symbol": s.replace("/", ""), "price": str(path[s][day - 1]), "timestamp": _ms(_at(story.period, day, 23, 59))}
                for s in PRICES
            ]
        )
        if day == BOB_APPROVED_ON:
            _bob_approved(story, day)
        for step_day, key, action, size in plan:
            if step_day != day:
                continue
            symbol = symbols[key]
            price = path[symbol][day - 1]
            followers_price = (price * Decimal("1.006")).quantize(Decimal("0.01")) if day == SLIPPAGE_DAY else None
            _trade(
                story,
                key=key,
                moment=_at(story.period, day, 14, 30),
                external_id=f"demo-{key}-{day}",
                symbol=symbol,
                action=action,
                size=size,
                price=price,
                followers_price=followers_price,
            )
            bar.update(1)
    bar.close()


def _trade(
    story: Story,
    *,
    key: str,
    moment: datetime,
    external_id: str,
    symbol: str,
    action: str,
    size,
    price: Decimal,
    followers_price: Decimal | None = None,
) -> None:
    """One leader signal at the replayed `moment`: the market is at `price` when it arrives
    (and moves to `followers_price`, when given, before the followers' orders)."""
    day = moment.day
    traded_at = moment
    exchange_symbol = symbol.replace("/", "")
    story.simulator.add_ticks(ticks=[{"symbol": exchange_symbol, "price": str(price), "timestamp": _ms(traded_at)}])
    story.simulator.set_price(symbol=exchange_symbol, price=str(price))
    # No price in the signal: the record takes the market's.
    signal = LeaderSignal(
        external_id=external_id,
        symbol=symbol,
        action=action,
        position_size_usd=size if action == "buy" else None,
        fraction=size if action == "sell" else None,
    )
    started = timezone.now()
    # The fan-out is enqueued on commit: a market that moves before then moves before every follower's order.
    with transaction.atomic():
        outcome = leader_signal_submit(strategy_id=story.strategies[key].pk, signal=signal, source=Strategy.Source.API)
        if followers_price is not None:
            story.simulator.set_price(symbol=exchange_symbol, price=str(followers_price))
    trade_ids = [trade.pk for trade in outcome.trades]
    copies = CopiedTrade.objects.filter(Q(leader_trade_id__in=trade_ids) | Q(strategy=story.strategies[key], recorded_at__gte=started))

    def settled() -> bool:
        done = LeaderTrade.objects.filter(pk__in=trade_ids, fanout_done_at__isnull=False).count() == len(trade_ids)
        return done and not copies.exclude(status__in=CopiedTrade.TERMINAL).exists()

    wait_until(settled, timeout=120, what=f"copies of {key}'s day-{day} trade", interval=0.1)
    # A fill that crossed a copy's stop-loss trips it just after it commits: wait for that too.
    tripping = Copy.objects.filter(
        strategy=story.strategies[key], status=Copy.Status.ACTIVE, current_drawdown_percent__gte=F("max_drawdown_stop")
    )
    wait_until(lambda: not tripping.exists(), timeout=120, what="copy stop-losses", interval=0.1)
    # Stop-loss closes of any strategy the fills triggered are part of this moment too.
    moved = CopiedTrade.objects.filter(Q(pk__in=copies.values("pk")) | Q(recorded_at__gte=started, kind=CopiedTrade.Kind.STOP_LOSS))
    wait_until(lambda: not moved.exclude(status__in=CopiedTrade.TERMINAL).exists(), timeout=120, what="stop-loss closes", interval=0.1)
    skipped = moved.filter(status=CopiedTrade.Status.SKIPPED, reason=CopiedTrade.Reason.SLIPPAGE_EXCEEDED).count()
    if skipped:
        story.events.append(f"day {day}: {skipped} entry copy of {key}'s trade skipped by a follower's slippage guard")
    for username in moved.filter(kind=CopiedTrade.Kind.STOP_LOSS).values_list("follower__username", flat=True).distinct():
        story.events.append(f"day {day}: {username}'s copy stop-loss closed its position and paused the copy")
    moved = CopiedTrade.objects.filter(pk__in=list(moved.values_list("pk", flat=True)))
    shift = timezone.now() - traded_at + timedelta(seconds=1)
    _move_back(moved, shift)
    LeaderTrade.objects.filter(pk__in=trade_ids).update(
        traded_at=traded_at,
        recorded_at=F("recorded_at") - shift,
        fanout_enqueued_at=F("fanout_enqueued_at") - shift,
        fanout_done_at=F("fanout_done_at") - shift,
    )


def _move_back(copies, shift: timedelta) -> None:
    fields = ["recorded_at", "enqueued_at", "submitted_at", "acknowledged_at", "finished_at"]
    copies.update(**{name: F(name) - shift for name in fields})


def _daily_jobs(story: Story) -> None:
    """The nightly jobs, with the metrics as of the replay's last day: measured as of
    yesterday, a 30-day window would hold little or none of the replayed month (a replay of
    a few days, or a run late in this month). Each figure says its as-of day and coverage."""
    for strategy in story.strategies.values():
        run_strategy_daily_checks(strategy.pk)
    replay_end = _at(story.period, story.days, 0) + timedelta(days=1)
    strategies_metrics_recalculate(strategy_ids=[strategy.pk for strategy in story.strategies.values()], now=replay_end)
    for provider in story.providers.values():
        provider_metrics_recalculate(provider_id=provider.pk, now=replay_end)
    outcomes = (
        CopiedTrade.objects.filter(strategy__in=story.strategies.values())
        .values("strategy__name", "kind", "status", "reason")
        .annotate(count=Count("id"))
        .order_by("strategy__name", "kind", "status", "reason")
    )
    story.say("every copied trade's outcome")
    story.table(
        ["strategy", "what", "outcome", "why", "copied trades"],
        [
            (
                o["strategy__name"],
                CopiedTrade.Kind(o["kind"]).label,
                CopiedTrade.Status(o["status"]).label,
                reason_label(CopiedTrade.Reason, o["reason"]) if o["reason"] else "-",
                o["count"],
            )
            for o in outcomes
        ],
    )
    for event in story.events:
        story.say(event)
    verified = TradeVerification.objects.filter(strategy__in=story.strategies.values()).values("status").annotate(count=Count("id"))
    story.say("track-record verification: " + ", ".join(f"{v['count']} {v['status']}" for v in verified))
    client = Client()
    client.force_login(story.follower_users[0][0])
    top = client.get("/api/copy-trading/top", {"sort": "total_return", "window": "30d"}).json()["results"]
    ours = {strategy.pk for strategy in story.strategies.values()}
    story.say(
        f"leaderboard (GET /api/copy-trading/top?sort=total_return&window=30d), as of {replay_end.date() - timedelta(days=1)}, "
        f"the replay's last day; a record under {settings.LEADERBOARD_MIN_DAYS} days or {settings.LEADERBOARD_MIN_CLOSED_TRADES} "
        "closed trades is listed as new"
    )
    story.table(
        ["strategy", "leader", "copiers", "total return", "sharpe", "sortino", "win rate", "max drawdown %", "covers", "ranked"],
        [
            (
                row["name"],
                row["owner"],
                row["copiers_count"],
                _num(row["total_return"]) + (" %" if row["total_return"] is not None else ""),
                _num(row["sharpe"]),
                _num(row["sortino"]),
                _pct(row["win_rate"]),
                _num(row["max_drawdown"]),
                _coverage(row["coverage"]),
                "yes" if row["ranked"] else "new",
            )
            for row in top
            if row["id"] in ours
        ],
    )


def _ratings(story: Story) -> None:
    """Followers who copied Alice rate her (only copiers may, once a copied trade closed)."""
    copies = Copy.objects.filter(strategy=story.strategies["alice"])
    now = timezone.now()
    raters = [user for user, _ in story.follower_users if rating_allowed(copies=copies.filter(follower=user), now=now)][:6]
    for index, user in enumerate(raters):
        rating_upsert(
            user=user, provider_id=story.providers["alice"].pk, stars=5 - index % 2, comment="Calm, clear exits." if index == 0 else ""
        )
    provider = SignalProvider.objects.get(pk=story.providers["alice"].pk)
    story.say(f"{len(raters)} copiers rated Alice: average {provider.average_rating} from {provider.ratings_count} ratings")


def _billing(story: Story) -> None:
    story.say(f"monthly billing for {story.period:%Y-%m} (high-water-mark performance fees, subscriptions) through the Stripe stand-in")
    summary = billing_period_run(period=story.period, progress=lambda stage, total: story.progress(total, stage))
    invoices = Invoice.objects.filter(follower__username__startswith=PREFIX, period=story.period)
    story.table(
        ["invoices", "sent to Stripe", "nothing due", "performance fees", "subscriptions", "total invoiced"],
        [
            (
                summary.invoices,
                summary.invoices_sent,
                summary.invoices_nothing_due,
                summary.performance_fees,
                summary.subscription_fees,
                summary.invoiced_total,
            )
        ],
    )
    _pay_invoices(story, invoices.filter(status=Invoice.Status.OPEN))
    payouts_run()
    lines = (
        InvoiceLine.objects.filter(invoice__in=invoices, invoice__status=Invoice.Status.PAID)
        .values("payee__username", "program")
        .annotate(gross=Sum("amount"), payee=Sum("payee_amount"), platform=Sum("platform_amount"))
        .order_by("payee__username")
    )
    payouts = {
        p.payee.username: p for p in Payout.objects.filter(payee__username__startswith=PREFIX, period=story.period).select_related("payee")
    }
    story.say("payouts: AI strategies 60 % leader / 40 % platform; marketplace providers 80 % / 20 %")
    story.table(
        ["payee", "program", "fees collected", "payee share", "platform share", "payout"],
        [
            (
                line["payee__username"],
                line["program"],
                line["gross"],
                line["payee"],
                line["platform"],
                _payout_words(payouts[line["payee__username"]]) if line["payee__username"] in payouts else "-",
            )
            for line in lines
        ],
    )


def _payout_words(payout: Payout) -> str:
    if payout.status == Payout.Status.AWAITING_MANUAL:
        return "to be paid by hand (no Stripe Connect account)"
    return payout.get_status_display().lower()


def _pay_invoices(story: Story, invoices) -> None:
    """Stripe tells us each invoice was paid: a signed invoice.paid event to our webhook."""
    client = Client()
    for invoice in invoices:
        event = build_event(event_type="invoice.paid", obj={"id": invoice.stripe_invoice_id, "object": "invoice", "status": "paid"})
        payload = json.dumps(event)
        signature = sign_webhook_payload(payload=payload, secret=settings.STRIPE_WEBHOOK_SECRET, timestamp=int(time.time()))
        response = client.post(
            "/api/billing/stripe/webhook", data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        if response.status_code != 200:
            raise RuntimeError(f"Stripe webhook answered {response.status_code}: {response.content[:200]!r}")


def _web_logins(story: Story) -> list[tuple[str, str, str, str]]:
    """Passwords and verified emails for the people the closing table sends to the pages:
    (who, where, username, password). Each page asks them to sign in first."""
    User = get_user_model()
    follower = story.follower_users[min(1, len(story.follower_users) - 1)][0]
    carol = story.providers["carol"]
    people = [
        ("web app, follower: My copies, invoices", WEB_URL + "copies/", follower.username, WEB_PASSWORD),
        ("web app, leader (AI strategy): strategies, signals, earnings", WEB_URL + "leader/strategies/", "demo-ai-lab", WEB_PASSWORD),
        ("web app, provider (Alice): provider page, payouts, ratings", WEB_URL + "provider/", "demo-alice", WEB_PASSWORD),
        (
            "curator: Carol's application waits for you",
            f"{WEB_URL}admin/marketplace/signalprovider/{carol.pk}/change/",
            "demo-curator",
            CURATOR_PASSWORD,
        ),
    ]
    for _, _, username, password in people:
        user = User.objects.get(username=username)
        user.set_password(password)
        user.save(update_fields=["password"])
        # allauth lets only verified addresses sign in.
        EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    # Staff too have a name on the pages (leaders and followers got theirs when they were made).
    for user in User.objects.filter(username__startswith=PREFIX, profile__isnull=True):
        profile_create(user=user, display_name=user.username.removeprefix(PREFIX).title())
    return people


def _where_next(story: Story, logins: list[tuple[str, str, str, str]]) -> None:
    from django.core import mail

    notifications = Notification.objects.filter(user__username__startswith=PREFIX).values("kind").annotate(count=Count("id"))
    story.say(
        "notifications: "
        + ", ".join(f"{n['count']} × {Notification.Kind(n['kind']).label}" for n in notifications.order_by("kind"))
        + f"; {len(getattr(mail, 'outbox', []))} emails sent (kept in memory by the demo)"
    )
    carol = story.providers["carol"]
    story.say("where to look next, once `make run` serves them")
    story.table(
        ["what", "where", "user / password"],
        [
            *((who, where, f"{username} / {password}") for who, where, username, password in logins),
            ("billing: invoices, payouts, manual tx hashes", "http://127.0.0.1:8000/admin/billing/", f"demo-billing / {BILLING_PASSWORD}"),
            ("API docs (Swagger UI, Redoc)", "http://127.0.0.1:8000/api/docs/  /api/redoc/", "-"),
            ("leaderboard", "http://127.0.0.1:8000/api/copy-trading/top", "public, no sign-in"),
        ],
    )
    story.say(
        f"Carol is {carol.status}: her page shows her trades, metrics and verification; approve or reject her there, with a reason. "
        "Curators see providers and their record only; invoices and payouts are the billing role's."
    )
    story.say(f"the web app: {WEB_URL} (after `make run`); sign in with a web login above")


# --- helpers -----------------------------------------------------------------------------


def _at(period: date, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(period.year, period.month, day, hour, minute, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _coverage(coverage: dict) -> str:
    days, trades = coverage["days"], coverage["closed_trades"]
    return f"{days} day{'' if days == 1 else 's'}, {trades} closed trade{'' if trades == 1 else 's'}"


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"
