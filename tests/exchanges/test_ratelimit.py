import json
import multiprocessing
import time

import pytest
import redis
from django.conf import settings as django_settings

from exchanges.ratelimit import reserve_order_slot

pytestmark = pytest.mark.redis  # the token buckets live in the test Redis

EXCHANGE = "testex"


def take_now(*, exchange_id: str, account_id: int, cost: int = 1) -> float:
    """Tokens for one order only if they are there now: 0.0 when taken, else the wait (nothing taken)."""
    reserved, wait = reserve_order_slot(exchange_id=exchange_id, account_id=account_id, within=0.0, cost=cost)
    return 0.0 if reserved else wait


@pytest.fixture
def limits(settings):
    def set_limits(*, account: tuple[int, float], exchange: tuple[int, float]) -> None:
        settings.EXCHANGE_RATE_LIMITS = {**django_settings.EXCHANGE_RATE_LIMITS, EXCHANGE: {"account": account, "exchange": exchange}}

    return set_limits


def _grants(count: int, *, account_id: int) -> list[float]:
    return [take_now(exchange_id=EXCHANGE, account_id=account_id) for _ in range(count)]


def test_it_grants_up_to_the_capacity_then_says_how_long_to_wait(limits):
    limits(account=(2, 10.0), exchange=(100, 10.0))

    assert _grants(2, account_id=1) == [0.0, 0.0]
    wait = take_now(exchange_id=EXCHANGE, account_id=1)

    # Refill is 2 tokens per 10 s: one token takes 5 s, less the moment since the grants.
    assert 4.9 < wait <= 5.0


def test_it_waits_for_the_slowest_bucket(limits):
    limits(account=(100, 10.0), exchange=(1, 60.0))

    assert take_now(exchange_id=EXCHANGE, account_id=1) == 0.0
    wait = take_now(exchange_id=EXCHANGE, account_id=2)

    assert 59.9 < wait <= 60.0


def test_it_takes_a_token_from_no_bucket_when_one_bucket_is_empty(limits):
    limits(account=(1, 60.0), exchange=(3, 60.0))
    assert take_now(exchange_id=EXCHANGE, account_id=1) == 0.0

    refused = _grants(5, account_id=1)

    # Had the refused attempts taken exchange tokens, the other accounts would find none.
    assert all(wait > 0 for wait in refused)
    assert _grants(1, account_id=2) + _grants(1, account_id=3) == [0.0, 0.0]
    assert take_now(exchange_id=EXCHANGE, account_id=4) > 0


def test_each_account_has_its_own_bucket(limits):
    limits(account=(1, 60.0), exchange=(100, 60.0))

    assert take_now(exchange_id=EXCHANGE, account_id=1) == 0.0
    assert take_now(exchange_id=EXCHANGE, account_id=1) > 0
    assert take_now(exchange_id=EXCHANGE, account_id=2) == 0.0


def test_a_costly_request_waits_for_all_its_tokens(limits):
    limits(account=(4, 4.0), exchange=(100, 4.0))
    assert take_now(exchange_id=EXCHANGE, account_id=1, cost=3) == 0.0

    wait = take_now(exchange_id=EXCHANGE, account_id=1, cost=3)

    # One token left, two missing at one token per second.
    assert 1.9 < wait <= 2.0


def test_it_refuses_a_cost_no_bucket_could_ever_hold(limits):
    limits(account=(2, 1.0), exchange=(100, 1.0))

    with pytest.raises(ValueError, match=r"can never fit the bucket ratelimit:\{.*\}:account:1 \(capacity 2\)"):
        take_now(exchange_id=EXCHANGE, account_id=1, cost=3)


def test_it_grants_again_once_the_bucket_has_refilled(limits):
    limits(account=(1, 0.2), exchange=(100, 1.0))
    assert take_now(exchange_id=EXCHANGE, account_id=1) == 0.0
    first_wait = take_now(exchange_id=EXCHANGE, account_id=1)
    refused_at = time.monotonic()
    assert 0 < first_wait <= 0.2

    deadline = refused_at + 5
    while (wait := take_now(exchange_id=EXCHANGE, account_id=1)) > 0:
        assert time.monotonic() < deadline, "the bucket never refilled"
        time.sleep(wait)

    assert time.monotonic() - refused_at >= first_wait - 0.01


def test_an_unknown_exchange_uses_the_default_limits(settings):
    settings.EXCHANGE_RATE_LIMITS = {"default": {"account": (1, 30.0), "exchange": (10, 30.0)}}

    assert take_now(exchange_id="kraken", account_id=1) == 0.0
    assert 29.9 < take_now(exchange_id="kraken", account_id=1) <= 30.0


def test_buckets_expire_once_idle_for_a_window(limits):
    limits(account=(5, 2.0), exchange=(50, 7.0))
    take_now(exchange_id=EXCHANGE, account_id=1)

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    ttls = {key.decode(): client.pttl(key) for key in client.scan_iter("ratelimit:*")}

    assert set(ttls) == {"ratelimit:{testex}:account:1", "ratelimit:{testex}:exchange"}
    assert 1500 < ttls["ratelimit:{testex}:account:1"] <= 2000
    assert 6500 < ttls["ratelimit:{testex}:exchange"] <= 7000


def _hammer(account_id: int, start, seconds: float, results) -> None:
    """Runs in a spawned process: take slots as fast as possible for `seconds`, starting
    together with the other process (a barrier: importing Django in a spawned process takes
    seconds on a busy machine, so a start signal sent at once would find one not ready)."""
    start.wait(timeout=60)
    began = time.time()
    grants, refusals = [], 0
    while time.time() - began < seconds:
        if take_now(exchange_id=EXCHANGE, account_id=account_id) == 0.0:
            grants.append(time.time())
        else:
            refusals += 1
    results.put({"began": began, "ended": time.time(), "grants": grants, "refusals": refusals})


def _run_two_processes(monkeypatch, *, account: tuple[int, float], exchange: tuple[int, float], seconds: float) -> list[dict]:
    # Spawned processes build their settings from the environment, like real workers.
    monkeypatch.setenv("EXCHANGE_RATE_LIMITS_JSON", json.dumps({EXCHANGE: {"account": account, "exchange": exchange}}))
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_hammer, args=(7, start, seconds, results)) for _ in range(2)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return outcomes


@pytest.mark.slow
def test_two_processes_sharing_one_bucket_never_exceed_its_capacity(monkeypatch, limits):
    # given a bucket that refills one token per 30 s, so none come back during the test
    limits(account=(20, 600.0), exchange=(1000, 600.0))

    # when two OS processes take slots for the same account as fast as they can
    first, second = _run_two_processes(monkeypatch, account=(20, 600.0), exchange=(1000, 600.0), seconds=1.0)

    # then together they got exactly the capacity, while both were running and refused
    assert len(first["grants"]) + len(second["grants"]) == 20
    assert first["began"] < second["ended"] and second["began"] < first["ended"]
    assert first["refusals"] > 0 and second["refusals"] > 0
    wait = take_now(exchange_id=EXCHANGE, account_id=7)
    last_grant = max(first["grants"] + second["grants"])
    assert 30 - (time.time() - last_grant) - 0.1 < wait <= 30.0


@pytest.mark.slow
def test_two_processes_sharing_one_bucket_get_the_capacity_plus_the_refill(monkeypatch):
    capacity, window = 10, 1.0
    first, second = _run_two_processes(monkeypatch, account=(capacity, window), exchange=(1000, window), seconds=1.5)

    grants = sorted(first["grants"] + second["grants"])
    refill = (grants[-1] - grants[0]) * capacity / window
    # Local clocks stamp grants a little after Redis granted them: one token of slack.
    assert capacity + refill - 1 <= len(grants) <= capacity + refill + 1


def test_reservations_queue_waiters_at_the_refill_rate_and_a_wait_beyond_the_limit_takes_nothing(limits):
    limits(account=(1, 1.0), exchange=(100, 10.0))  # one token a second for the account

    now = reserve_order_slot(exchange_id=EXCHANGE, account_id=1, within=5.0)
    second = reserve_order_slot(exchange_id=EXCHANGE, account_id=1, within=5.0)
    third = reserve_order_slot(exchange_id=EXCHANGE, account_id=1, within=5.0)
    refused = reserve_order_slot(exchange_id=EXCHANGE, account_id=1, within=2.5)

    # Each waiter owns the next slot: 0 s, ~1 s, ~2 s; the fourth would wait ~3 s, beyond its
    # 2.5 s limit, so it takes nothing and is told how long until a token is free for it.
    assert now == (True, 0.0)
    assert second[0] and 0.9 < second[1] <= 1.0
    assert third[0] and 1.9 < third[1] <= 2.0
    assert not refused[0] and 2.9 < refused[1] <= 3.0
    # The bucket owes two tokens; plain acquiring (no reservation) waits behind the queue.
    assert 2.9 < take_now(exchange_id=EXCHANGE, account_id=1) <= 3.0


def test_each_egress_address_has_its_own_per_ip_budget_while_accounts_stay_global(limits, settings):
    limits(account=(1, 60.0), exchange=(2, 60.0))

    settings.EXCHANGE_EGRESS_ID = "203.0.113.10"  # worker host A
    assert _grants(1, account_id=1) + _grants(1, account_id=2) == [0.0, 0.0]
    assert take_now(exchange_id=EXCHANGE, account_id=3) > 0  # A's per-IP budget is spent

    settings.EXCHANGE_EGRESS_ID = "203.0.113.20"  # worker host B leaves through another address
    assert take_now(exchange_id=EXCHANGE, account_id=3) == 0.0
    assert take_now(exchange_id=EXCHANGE, account_id=1) > 0  # account 1's limit holds on any host


def test_every_exchange_offered_on_the_pages_has_order_limits_of_its_own():
    from exchanges.models import ConnectableExchange

    assert set(ConnectableExchange.values) <= set(django_settings.EXCHANGE_RATE_LIMITS) - {"default", "paper"}
