"""Copy quality, the protecting half (issue 27), over the wire against the loopback simulator:
late entries are never placed (exits always are), and a copy whose recorded position and
its exchange account's holding part is found, told and mended by its drift policy."""

from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.conf import settings as settings_module
from django.db.models import F

from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade, PositionDrift
from copytrade.services.copies import copy_start
from copytrade.services.drift import copies_drift_check
from copytrade.services.execution import copied_trade_execute
from copytrade.services.fanout import leader_trade_fan_out
from core.models import Notification
from exchanges.gateways import gateway_for_account
from exchanges.ratelimit import reserve_order_slot
from tests.copytrade import signal_only_strategy, simulator_account, submit
from tests.copytrade.test_execution import run_engine

pytestmark = pytest.mark.django_db

BASE = "/api/copy-trading"


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    return simulated_binance


@pytest.fixture
def strategy(owner, sim):
    return signal_only_strategy(owner, capital="100000")


def start_copy(sim, user, strategy, *, account=None, **options) -> Copy:
    account = account or simulator_account(sim, user, usdt="10000")
    options.setdefault("allocation_percent", Decimal("50"))
    return copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, **options)


def orders_of(sim, copy) -> list[tuple[str, Decimal]]:
    return [(o["side"], Decimal(o["amount"])) for o in sim.orders(api_key=copy.exchange_account.api_key)]


def held_btc(sim, copy) -> Decimal:
    balance = sim.account(api_key=copy.exchange_account.api_key)["balances"].get("BTC") or {}
    return Decimal(balance.get("free") or 0) + Decimal(balance.get("locked") or balance.get("used") or 0)


def recorded(copy) -> Decimal:
    return FollowerPosition.objects.get(copy=copy, symbol="BTC/USDT").quantity


def _older(leader_trade_id: int, seconds: int = 120) -> None:
    """As if the leader's trade happened `seconds` earlier (an outage that long)."""
    LeaderTrade.objects.filter(pk=leader_trade_id).update(traded_at=F("traded_at") - timedelta(seconds=seconds))


def _empty_rate_limit_buckets() -> None:
    client = redis.Redis.from_url(settings_module.REDIS_URL)
    for key in client.scan_iter("ratelimit:*"):
        client.delete(key)


# --- Late entries never placed -------------------------------------------------------------


def test_an_entry_held_past_the_limit_by_a_rate_limit_wait_is_skipped_too_late_while_the_exit_is_placed(sim, strategy, follower, settings):
    # given a copy holding what it copied of the leader's open, on an account that may place
    # one order every 4 s (a wait slept in the worker), and entries copied within 1.5 s
    settings.COPY_MAX_ENTRY_DELAY_SECONDS = 1.5
    settings.EXCHANGE_RATE_LIMITS = {**settings.EXCHANGE_RATE_LIMITS, "binance": {"account": (1, 4.0), "exchange": (1000, 1.0)}}
    settings.COPYTRADE_RATE_LIMIT_INLINE_WAIT_SECONDS = 5.0
    _empty_rate_limit_buckets()
    copy = start_copy(sim, follower, strategy)
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    [opened] = CopiedTrade.objects.filter(copy=copy).values_list("filled_amount", flat=True)

    # when the leader adds to the position, then closes it, each copy waiting ~4 s for its token
    submit(strategy, "t2", "buy", amount="0.5", price="65000")
    run_engine()
    submit(strategy, "t3", "close", price="65000")
    run_engine()

    # then the increase was never sent (too late, its delay beside the reason) and the close was,
    # selling all the copy held
    rows = list(CopiedTrade.objects.filter(copy=copy).order_by("sequence"))
    assert [(row.effect, row.status, row.reason) for row in rows] == [
        ("open", "filled", ""),
        ("increase", "skipped", CopiedTrade.Reason.TOO_LATE),
        ("close", "filled", ""),
    ]
    assert Decimal(rows[1].reason_detail["delay_seconds"]) > Decimal("1.5") and rows[1].reason_detail["limit_seconds"] == "1.5"
    assert rows[1].submitted_at is None
    assert orders_of(sim, copy) == [("BUY", opened), ("SELL", opened)]
    assert recorded(copy) == 0
    # and the follower was told once for the copy: what was skipped, what was placed late
    assert not Notification.objects.filter(user=follower, kind=Notification.Kind.COPIED_TRADE_SKIPPED).exists()
    [late] = Notification.objects.filter(user=follower, kind=Notification.Kind.COPY_LATE)
    assert late.grouped_count == 2
    assert "Skipped as too late: its buy of BTC/USDT (trade #2)" in late.body
    assert "Placed late: its sell of BTC/USDT (trade #3)" in late.body


def test_an_entry_whose_rate_limit_wait_was_handed_back_is_skipped_too_late_when_its_message_returns(sim, strategy, follower, settings):
    # given an entry whose order had to wait for a rate-limit token longer than a worker sleeps
    copy = start_copy(sim, follower, strategy)
    settings.EXCHANGE_RATE_LIMITS = {**settings.EXCHANGE_RATE_LIMITS, "binance": {"account": (1, 30.0), "exchange": (1000, 1.0)}}
    settings.COPYTRADE_RATE_LIMIT_INLINE_WAIT_SECONDS = 0.0
    _empty_rate_limit_buckets()
    trade = submit(strategy, "t1", "buy", amount="1", price="65000").trades[0]
    [row_id] = leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids
    reserve_order_slot(exchange_id="binance", account_id=copy.exchange_account_id, within=0)  # another order took the token
    waiting = copied_trade_execute(copied_trade_id=row_id)
    assert (waiting.status, waiting.waiting_for) == (CopiedTrade.Status.PENDING, "a rate-limit token")

    # when its re-sent message runs after the limit (an outage: the wait lasted two minutes)
    _older(trade.pk)
    done = copied_trade_execute(copied_trade_id=row_id, token=waiting.token)

    # then it is skipped too late and nothing was sent
    assert (done.status, done.reason) == (CopiedTrade.Status.SKIPPED, CopiedTrade.Reason.TOO_LATE)
    assert sim.orders(api_key=copy.exchange_account.api_key) == []


def test_an_entry_whose_order_may_have_been_sent_is_looked_up_however_late(sim, strategy, follower, settings):
    # given an entry whose order got no answer (a 503) and waits to be looked up
    copy = start_copy(sim, follower, strategy)
    trade = submit(strategy, "t1", "buy", amount="1", price="65000").trades[0]
    [row_id] = leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids
    sim.set_faults(queue=["503"], match=["POST /api/v3/order"])
    waiting = copied_trade_execute(copied_trade_id=row_id)
    row = CopiedTrade.objects.get(pk=row_id)
    # ... and the exchange did take it after all
    gateway_for_account(copy.exchange_account).create_order(
        symbol="BTC/USDT", side="buy", amount=row.requested_amount, client_order_id=row.client_order_id
    )

    # when the run comes back long past the limit
    _older(trade.pk)
    done = copied_trade_execute(copied_trade_id=row_id, token=waiting.token)

    # then the order is recorded as the exchange has it, not skipped
    assert done.status == CopiedTrade.Status.FILLED
    assert sim.order_counts() == {row.client_order_id: 1}
    assert recorded(copy) > 0


def test_an_entry_whose_order_never_arrived_is_not_placed_again_once_too_late(sim, strategy, follower, settings):
    # given an entry whose order got a 503 before the exchange took it
    copy = start_copy(sim, follower, strategy)
    trade = submit(strategy, "t1", "buy", amount="1", price="65000").trades[0]
    [row_id] = leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids
    sim.set_faults(queue=["503"], match=["POST /api/v3/order"])
    waiting = copied_trade_execute(copied_trade_id=row_id)

    # when it is looked up (not found, can no longer arrive) past the limit
    settings.COPYTRADE_ORDER_SETTLE_SECONDS = 0
    _older(trade.pk)
    done = copied_trade_execute(copied_trade_id=row_id, token=waiting.token)

    # then it is skipped too late, not placed again
    assert (done.status, done.reason) == (CopiedTrade.Status.SKIPPED, CopiedTrade.Reason.TOO_LATE)
    assert sim.orders(api_key=copy.exchange_account.api_key) == []


def test_late_outcomes_of_several_leader_trades_make_one_notification_per_copy(sim, strategy, follower, stranger):
    # given two copies whose leader opened three times during an outage
    copies = [start_copy(sim, user, strategy) for user in (follower, stranger)]
    for number in (1, 2, 3):
        _older(submit(strategy, f"t{number}", "buy", amount="0.1", price="65000").trades[0].pk)

    # when the backlog drains
    run_engine()

    # then every entry was skipped, and each follower has one notification with three lines
    assert set(CopiedTrade.objects.values_list("status", "reason")) == {("skipped", CopiedTrade.Reason.TOO_LATE)}
    for copy in copies:
        assert not Notification.objects.filter(user=copy.follower, kind=Notification.Kind.COPIED_TRADE_SKIPPED).exists()
        [late] = Notification.objects.filter(user=copy.follower, kind=Notification.Kind.COPY_LATE)
        assert (late.kind, late.grouped_count, late.body.count("Skipped as too late")) == (Notification.Kind.COPY_LATE, 3, 3)


# --- Drift found and mended ----------------------------------------------------------------


def _hand_buy(copy, amount: str) -> None:
    """The follower buys on the same account by hand (not through a copy)."""
    gateway_for_account(copy.exchange_account).create_order(
        symbol="BTC/USDT", side="buy", amount=Decimal(amount), client_order_id="by-hand-1"
    )


def _copy_holding(sim, user, strategy, *, drift_policy=Copy.DriftPolicy.NOTIFY) -> Copy:
    copy = start_copy(sim, user, strategy)
    Copy.objects.filter(pk=copy.pk).update(drift_policy=drift_policy)
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    assert recorded(copy) == held_btc(sim, copy) > 0
    return copy


def test_a_pass_over_copies_that_match_their_accounts_finds_no_drift(sim, strategy, follower):
    _copy_holding(sim, follower, strategy)

    outcome = copies_drift_check()

    assert (outcome.assets_checked, outcome.found) == (1, [])
    assert not PositionDrift.objects.exists()


def test_a_hand_trade_is_found_as_drift_and_resynced_by_policy(sim, strategy, follower):
    # given a copy that resyncs, and a hand purchase on its account
    copy = _copy_holding(sim, follower, strategy, drift_policy=Copy.DriftPolicy.RESYNC)
    position_before, pnl_before = recorded(copy), Copy.objects.get(pk=copy.pk).realized_pnl
    _hand_buy(copy, "0.02")

    # when the drift pass runs
    outcome = copies_drift_check()

    # then the difference is recorded, told, and a resync order is queued for it
    [drift] = PositionDrift.objects.filter(pk__in=outcome.found)
    assert (drift.recorded, drift.actual) == (position_before, held_btc(sim, copy))
    assert drift.difference == held_btc(sim, copy) - position_before > 0
    assert (drift.action, drift.resolved_at) == (PositionDrift.Action.RESYNCED, None)
    resync = drift.copied_trade
    assert (resync.kind, resync.side, resync.requested_amount) == (CopiedTrade.Kind.RESYNC, "sell", drift.difference)
    [told] = Notification.objects.filter(user=follower, kind=Notification.Kind.COPY_DRIFT)
    assert "traded outside the copies" in told.body and "an order at market" in told.body

    # when the engine places it, and the pass runs again
    run_engine()
    again = copies_drift_check()

    # then the account holds what the copy records, the copy's position and P&L untouched
    resync.refresh_from_db()
    assert (resync.status, resync.filled_amount) == (CopiedTrade.Status.FILLED, drift.difference)
    assert resync.client_order_id.startswith("rs")
    assert held_btc(sim, copy) == recorded(copy) == position_before
    assert Copy.objects.get(pk=copy.pk).realized_pnl == pnl_before
    assert again.resolved == 1
    drift.refresh_from_db()
    assert drift.resolved_at is not None


def test_a_hand_trade_after_a_filled_resync_is_resynced_again_but_a_refused_one_is_not_retried(sim, strategy, follower, settings):
    # given a resync that filled, then another hand purchase before the next pass
    copy = _copy_holding(sim, follower, strategy, drift_policy=Copy.DriftPolicy.RESYNC)
    position = recorded(copy)
    _hand_buy(copy, "0.02")
    copies_drift_check()
    run_engine()
    gateway_for_account(copy.exchange_account).create_order(
        symbol="BTC/USDT", side="buy", amount=Decimal("0.01"), client_order_id="by-hand-3"
    )

    # when the pass runs and the engine places what it asks
    copies_drift_check()
    run_engine()

    # then a second resync sold the new excess, on the same open drift
    resyncs = list(CopiedTrade.objects.filter(kind=CopiedTrade.Kind.RESYNC).order_by("sequence"))
    assert [row.status for row in resyncs] == ["filled", "filled"]
    assert held_btc(sim, copy) == recorded(copy) == position
    assert PositionDrift.objects.count() == 1 and Notification.objects.filter(kind=Notification.Kind.COPY_DRIFT).count() == 1

    # and a resync under the exchange's minimum (a 0.00005 BTC deposit, 3.25 USDT) is skipped
    # once, not tried again every pass
    sim.set_balances(api_key=copy.exchange_account.api_key, balances={"BTC": held_btc(sim, copy) + Decimal("0.00005")})
    settings.COPY_DRIFT_DUST_QUOTE = settings.COPY_DRIFT_TOLERANCE_PERCENT = Decimal("0")
    for _ in range(2):
        copies_drift_check()
        run_engine()
    last = CopiedTrade.objects.filter(kind=CopiedTrade.Kind.RESYNC).order_by("-sequence").first()
    assert (last.status, last.reason) == ("skipped", CopiedTrade.Reason.BELOW_EXCHANGE_MINIMUM)
    assert CopiedTrade.objects.filter(kind=CopiedTrade.Kind.RESYNC).count() == 3


def test_a_hand_trade_is_adopted_as_the_copys_position_by_the_adopt_policy(sim, strategy, follower):
    copy = _copy_holding(sim, follower, strategy, drift_policy=Copy.DriftPolicy.ADOPT)
    _hand_buy(copy, "0.02")

    [drift_id] = copies_drift_check().found

    drift = PositionDrift.objects.get(pk=drift_id)
    assert (drift.action, drift.resolved_at is not None, drift.copied_trade) == (PositionDrift.Action.ADOPTED, True, None)
    assert recorded(copy) == held_btc(sim, copy)
    assert len(orders_of(sim, copy)) == 2  # the copy's open and the hand buy: nothing placed
    assert copies_drift_check().found == []


def test_notify_only_tells_the_follower_once_and_trades_nothing(sim, strategy, follower):
    copy = _copy_holding(sim, follower, strategy)
    position_before = recorded(copy)
    _hand_buy(copy, "0.02")

    first = copies_drift_check()
    second = copies_drift_check()

    [drift] = PositionDrift.objects.all()
    assert (first.found, second.found) == ([drift.pk], [])
    assert (drift.action, drift.resolved_at) == (PositionDrift.Action.NOTIFIED, None)
    assert recorded(copy) == position_before and len(orders_of(sim, copy)) == 2
    assert Notification.objects.filter(user=follower, kind=Notification.Kind.COPY_DRIFT).count() == 1
    assert not CopiedTrade.objects.filter(kind=CopiedTrade.Kind.RESYNC).exists()


def test_a_notified_drift_is_mended_once_the_follower_chooses_a_policy(sim, strategy, follower, client_for):
    copy = _copy_holding(sim, follower, strategy)
    _hand_buy(copy, "0.02")
    copies_drift_check()

    changed = client_for(follower).patch(f"{BASE}/copies/{copy.pk}", {"drift_policy": "adopt"}, format="json")
    copies_drift_check()

    assert changed.status_code == 200 and changed.json()["drift_policy"] == "adopt"
    [drift] = PositionDrift.objects.all()
    assert drift.action == PositionDrift.Action.ADOPTED and recorded(copy) == held_btc(sim, copy)


def test_copies_sharing_an_account_share_its_difference_in_proportion(sim, owner, strategy, follower):
    # given two copies of different leaders on one account, holding 2:1
    other = signal_only_strategy(owner, capital="100000", name="Other")
    account = simulator_account(sim, follower, usdt="20000")
    big = start_copy(sim, follower, strategy, account=account, allocation_percent=Decimal("50"))
    small = start_copy(sim, follower, other, account=account, allocation_percent=Decimal("25"))
    submit(strategy, "a1", "buy", amount="1", price="65000")
    submit(other, "b1", "buy", amount="1", price="65000")
    run_engine()
    assert recorded(big) + recorded(small) == held_btc(sim, big)

    # when BTC is sold by hand and the pass runs
    gateway_for_account(account).create_order(symbol="BTC/USDT", side="sell", amount=Decimal("0.03"), client_order_id="by-hand-2")
    copies_drift_check()

    # then each copy carries its share of what is missing, and they sum to the account's difference
    drifts = {drift.copy_id: drift for drift in PositionDrift.objects.all()}
    assert drifts[big.pk].difference + drifts[small.pk].difference == Decimal("-0.03")
    assert drifts[big.pk].difference == 2 * drifts[small.pk].difference
    assert drifts[big.pk].account_actual == held_btc(sim, big) and drifts[big.pk].account_recorded == recorded(big) + recorded(small)


def test_a_difference_within_the_tolerance_is_not_drift(sim, strategy, follower, settings):
    settings.COPY_DRIFT_DUST_QUOTE = Decimal("100")  # 0.001 BTC is 65 USDT
    copy = _copy_holding(sim, follower, strategy)
    _hand_buy(copy, "0.001")

    assert copies_drift_check().found == []


def test_an_asset_with_a_copied_trade_in_flight_is_left_to_the_next_pass(sim, strategy, follower):
    copy = _copy_holding(sim, follower, strategy)
    _hand_buy(copy, "0.02")
    trade = submit(strategy, "t2", "close", price="65000").trades[0]
    leader_trade_fan_out(leader_trade_id=trade.pk)  # the close is pending

    outcome = copies_drift_check()

    assert (outcome.found, outcome.left_for_later) == ([], 1)


def test_the_copy_api_shows_the_drift_and_refuses_an_unknown_policy(sim, strategy, follower, client_for):
    copy = _copy_holding(sim, follower, strategy)
    _hand_buy(copy, "0.02")
    copies_drift_check()
    client = client_for(follower)

    shown = client.get(f"{BASE}/copies/{copy.pk}").json()
    refused = client.patch(f"{BASE}/copies/{copy.pk}", {"drift_policy": "ignore"}, format="json")

    assert shown["drift_policy"] == "notify"
    [drift] = shown["drifts"]
    assert (drift["symbol"], drift["action"], drift["resolved_at"]) == ("BTC/USDT", "notified", None)
    assert Decimal(drift["difference"]) > 0 and "traded outside the copies" in drift["text"]
    assert refused.status_code == 400 and "drift_policy" in str(refused.json())
    assert Copy.objects.get(pk=copy.pk).drift_policy == "notify"
