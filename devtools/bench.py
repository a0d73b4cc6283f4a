"""The fan-out benchmark (`make bench`, `manage.py bench_fanout`).

Three paths, on the same machine, workers and loopback simulator:

- product: one signed `POST /webhook` for a strategy with N followers, through the web
  server, the fan-out task and one `execute_copied_trade` task per follower;
- floor: the same workers, one minimal task per follower doing only the unavoidable I/O
  (claim one row, one order to the simulator, write one row);
- naive: the seed's design, one follower at a time, each a synchronous webhook call that
  places that follower's order before the next one starts.

Latencies are taken from the database (leader trade recorded) to the simulator's own
acknowledgement time of each order; duplicates and missing orders are counted from the
simulator's order log by client order id.

With `bybit_share`, that share of the followers trade on the simulator's Bybit v5 side (the
same process, /v5): the product path copies the Binance leader's trade to both exchanges and
is reported per exchange. The floor, bare and naive baselines place raw Binance spot orders
(the bare path signs Binance's API by hand), so they run on the Binance followers only.
"""

import contextlib
import hashlib
import hmac
import json
import os
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal

import requests
import urllib3
from celery import current_app, shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from billing.erasure import users_delete
from copytrade import rows as row_sql
from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade, Strategy
from core.models import Notification
from devtools.processes import wait_until
from devtools.simulator.client import SimulatorClient
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount

PREFIX = "bench-"
SYMBOL = "BTC/USDT"
FOLLOWER_USDT = "1000000"
LEADER_CAPITAL = Decimal("100000")
LEADER_POSITION_USD = Decimal("10000")
FOLLOWER_CAPITAL = Decimal("1000")  # proportional: each follower's order is 100 USDT
FLOOR_AMOUNT = Decimal("0.0015")
WARM_UP_ORDERS = 200


@dataclass
class RunResult:
    path: str
    followers: int
    latency_ms: int
    orders: int
    webhook_ms: float | None
    webhook_p99_ms: float | None
    enqueue_s: float | None
    first_ack_ms: float | None
    last_ack_s: float | None
    orders_per_s: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    duplicates: int
    missing: int
    peak_rss_mb: float | None
    extra: dict = field(default_factory=dict)
    sql_per_task: int | None = None
    cpu_ms_per_order: dict = field(default_factory=dict)  # by process group, and "all"
    resources: dict = field(default_factory=dict)  # ResourceMeter.figures(): peak RSS by process, PostgreSQL connections
    leaders: int = 1  # leader trades sent at once (`followers` counts all their copies)
    setup_s: float | None = None  # the population's setup time (simulator accounts and rows)


# --- Data -------------------------------------------------------------------------------


def bench_reset() -> None:
    """Delete everything earlier benchmark runs made (users named bench-*)."""
    users_delete(username_prefix=PREFIX)


def tables_vacuum() -> None:
    """VACUUM (ANALYZE) the tables a run writes, before each run and outside its timing: what
    autovacuum does between bursts in production. This machine's PostgreSQL runs with
    autovacuum off, so without it every run would walk the dead row versions of all the runs
    before it (about four per copied trade), and a path's figures would depend on its place
    in the sequence."""
    tables = [model._meta.db_table for model in (CopiedTrade, Copy, FollowerPosition, LeaderTrade, Notification)]
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(connection.ops.quote_name(table) for table in tables)}")


EXCHANGES = ("binance", "bybit")


@dataclass
class Population:
    leader_strategy_id: int
    copy_ids: list[int]
    account_ids: list[int]
    api_keys: list[str]
    exchange_ids: list[str] = field(default_factory=list)  # each follower's exchange, in the order above
    # With several leaders (`population_create(leaders=...)`): every leader strategy, the first
    # being `leader_strategy_id`, and each follower's leader (an index into it), in the order above.
    leader_strategy_ids: list[int] = field(default_factory=list)
    leader_of: list[int] = field(default_factory=list)
    setup_s: float | None = None  # seconds the population took to create (simulator accounts and rows)

    def on(self, exchange_id: str) -> "Population":
        """The followers on one exchange (the Binance-only baselines run on these)."""
        kept = [index for index, exchange in enumerate(self.exchange_ids or ["binance"] * len(self.copy_ids)) if exchange == exchange_id]
        return replace(
            self,
            copy_ids=[self.copy_ids[i] for i in kept],
            account_ids=[self.account_ids[i] for i in kept],
            api_keys=[self.api_keys[i] for i in kept],
            exchange_ids=[exchange_id] * len(kept),
            leader_of=[self.leader_of[i] for i in kept] if self.leader_of else [],
        )


def follower_exchanges(*, followers: int, bybit_share: float) -> list[str]:
    """Each follower's exchange: `bybit_share` of them on Bybit, spread evenly among the
    Binance ones (so the first followers, which warm the workers up, include both)."""
    if not 0 <= bybit_share <= 1:
        raise ValueError("bybit_share must be between 0 and 1")
    on_bybit = round(followers * bybit_share)
    return ["bybit" if (i + 1) * on_bybit // followers > i * on_bybit // followers else "binance" for i in range(followers)]


SETUP_CONNECTIONS = 8  # simulator accounts created over this many connections at once


def population_create(
    *, simulator: SimulatorClient, followers: int, progress=None, bybit_share: float = 0.0, leaders: int = 1
) -> Population:
    """`leaders` signal-only leader strategies, each with `followers` proportional copies of its
    own (leaders x followers simulator accounts; `bybit_share` of them on the simulator's Bybit
    side, the rest on Binance's). With one leader, as before: one strategy, `followers` copies.

    Rows are bulk-inserted and the simulator's accounts created over SETUP_CONNECTIONS
    connections: the setup is not what is measured (its time is kept, `setup_s`).
    """
    started = time.monotonic()
    total = followers * leaders
    exchange_ids = follower_exchanges(followers=total, bybit_share=bybit_share)
    sides = {exchange: simulator.for_exchange(exchange) for exchange in set(exchange_ids)}
    if "bybit" in sides:  # the Bybit side starts at the Binance side's price, so copies' price gaps compare
        sides["bybit"].set_price(symbol=SYMBOL, price=simulator.prices()[SYMBOL.replace("/", "")])
    User = get_user_model()
    strategies = []
    for index in range(leaders):
        leader = User.objects.create_user(username=f"{PREFIX}leader" if index == 0 else f"{PREFIX}leader{index:02d}")
        strategies.append(
            Strategy.objects.create(
                owner=leader,
                name="Bench leader" if index == 0 else f"Bench leader {index}",
                kind=Strategy.Kind.AI,
                declared_capital=LEADER_CAPITAL,
                is_public_leader=True,
                copiers_count=followers,
            )
        )
    leader_of = [index // followers for index in range(total)]
    users = User.objects.bulk_create([User(username=f"{PREFIX}f{i:05d}", password="!") for i in range(total)], batch_size=2000)
    local = threading.local()
    done = [0]

    def create(exchange: str) -> dict:
        client = getattr(local, exchange, None)
        if client is None:
            client = simulator.for_exchange(exchange)
            setattr(local, exchange, client)
        account = client.create_account(balances={"USDT": FOLLOWER_USDT})
        done[0] += 1
        if progress and done[0] % 500 == 0:
            progress(done[0])
        return account

    with ThreadPoolExecutor(max_workers=SETUP_CONNECTIONS) as pool:
        credentials = list(pool.map(create, exchange_ids))
    accounts = ExchangeAccount.objects.bulk_create(
        [
            ExchangeAccount(owner=user, exchange_id=exchange, label="bench", api_key=c["api_key"], api_secret=c["api_secret"])
            for user, c, exchange in zip(users, credentials, exchange_ids)
        ],
        batch_size=2000,
    )
    now = timezone.now()
    copies = Copy.objects.bulk_create(
        [
            Copy(
                follower=user,
                strategy=strategies[leader],
                exchange_account=account,
                allocation_percent=Decimal("1"),
                copy_capital=FOLLOWER_CAPITAL,
                copy_equity=FOLLOWER_CAPITAL,
                peak_equity=FOLLOWER_CAPITAL,
                started_at=now,
            )
            for user, account, leader in zip(users, accounts, leader_of)
        ],
        batch_size=2000,
    )
    return Population(
        leader_strategy_id=strategies[0].pk,
        copy_ids=[r.pk for r in copies],
        account_ids=[a.pk for a in accounts],
        api_keys=[c["api_key"] for c in credentials],
        exchange_ids=exchange_ids,
        leader_strategy_ids=[strategy.pk for strategy in strategies],
        leader_of=leader_of,
        setup_s=round(time.monotonic() - started, 1),
    )


# --- Measuring --------------------------------------------------------------------------


class _Every:
    """A context manager running `step()` in a background thread every `interval` seconds
    until the block ends."""

    interval = 1.0

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.interval)

    def step(self) -> None:
        raise NotImplementedError


class RssSampler(_Every):
    """Peak resident memory of a set of processes and their children, sampled from /proc."""

    def __init__(self, pids: list[int], interval: float = 0.05):
        self.pids, self.interval, self.peak_kb = pids, interval, 0

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kb / 1024, 1)

    def step(self) -> None:
        self.peak_kb = max(self.peak_kb, sum(_rss_kb(pid) for pid in _tree(self.pids)))


class ResourceMeter(_Every):
    """While a run lasts: the peak resident memory of each process given, by role (a role's
    process and its children together: gunicorn's master and workers are "web"), and the peak
    number of PostgreSQL connections to the bench's database, all of them and those not idle
    (pg_stat_activity, this sampler's own connection left out). Sampled every `interval` s."""

    interval = 0.1

    def __init__(self, roles: dict[str, list[int]], *, alone: tuple[str, ...] = ("bench",)):
        """`alone`: roles counted without their children (the bench process starts all the others)."""
        self.roles, self.alone = roles, alone
        self.peak_kb = dict.fromkeys(roles, 0)
        self.peak_total_kb = 0
        self.connections = {"peak": 0, "peak_active": 0, "samples": 0}
        self._trees: dict[str, set[int]] = {}
        self._ticks = 0

    def step(self) -> None:
        if self._ticks % 20 == 0:  # children (gunicorn's workers) are looked up every 2 s, not every sample
            self._trees = {role: set(pids) if role in self.alone else _tree(pids) for role, pids in self.roles.items()}
        self._ticks += 1
        total = 0
        for role, pids in self._trees.items():
            kb = sum(_rss_kb(pid) for pid in pids)
            self.peak_kb[role] = max(self.peak_kb[role], kb)
            total += kb
        self.peak_total_kb = max(self.peak_total_kb, total)
        if self._ticks % 2 == 1:  # PostgreSQL every 0.2 s
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                every, active = cursor.fetchone()
            self.connections["peak"] = max(self.connections["peak"], every)
            self.connections["peak_active"] = max(self.connections["peak_active"], active)
            self.connections["samples"] += 1

    def _run(self) -> None:
        try:
            super()._run()
        finally:
            connection.close()  # this thread's own connection

    def figures(self) -> dict:
        """{"rss_mb": {role: peak MB}, "rss_total_mb": peak of all roles together (MB),
        "pg_connections": {"peak", "peak_active", "samples"}}"""
        return {
            "rss_mb": {role: round(kb / 1024, 1) for role, kb in self.peak_kb.items()},
            "rss_total_mb": round(self.peak_total_kb / 1024, 1),
            "pg_connections": dict(self.connections),
        }


def pids_listening(url: str, marker: str) -> list[int]:
    """The processes whose command line holds `marker` and the port of `url` (the web server's
    and the simulator's, which devtools.processes starts by URL)."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().decode(errors="replace").split("\x00")
        except OSError:
            continue
        if any(marker in part for part in command) and any(part == port or part.endswith(f":{port}") for part in command):
            found.append(int(entry))
    # the roots only: a process whose parent is also found is counted through its parent
    parents = {pid: _parent(pid) for pid in found}
    return [pid for pid in found if parents[pid] not in found]


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _tree(roots: list[int]) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = set(roots), list(roots)
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid and child not in found]
        found.update(children)
        frontier.extend(children)
    return found


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Who a process is, by its command line: the groups the CPU figures are reported in. Only
# the bench's own processes and its database's PostgreSQL backends are counted (CpuMeter);
# "redis (shared)" is reported beside them and left out of "all".
CPU_GROUPS = ("execution workers", "fan-out worker", "web", "simulator", "postgres", "bench", "other")
REDIS_SHARED = "redis (shared)"
CPU_COUNTED = (
    "CPU counted: the bench process (the CPU meter's own sampling thread left out) and every process it started (workers, web, "
    "simulator), and the PostgreSQL backends serving its database (pg_stat_activity.datname), sampled every "
    "0.25 s; not PostgreSQL's shared background processes (WAL writer, checkpointer), not other sessions' processes. "
    "Redis serves every session's databases from one process: its CPU is shown as 'redis (shared)' and left out of 'all'."
)


def _cpu_group(pid: int, command: str) -> str:
    if pid == os.getpid():
        return "bench"
    if "exchange_simulator" in command:
        return "simulator"
    if "gunicorn" in command:
        return "web"
    if "celery" in command:
        return "fan-out worker" if "-Q\x00fanout" in command else "execution workers"
    if command.startswith("postgres"):
        return "postgres"
    if command.startswith("redis-server"):
        return REDIS_SHARED
    return "other"


def _stat(pid: int, task: int | None = None) -> tuple[int, int] | None:
    """(start time, CPU ticks used so far, user and system) of a process (or of one of its
    threads), None once it is gone. The start time tells a reused pid from the process seen before."""
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    try:
        with open(path) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19]), int(fields[11]) + int(fields[12])


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().decode(errors="replace")
    except OSError:
        return ""


class CpuMeter(_Every):
    """CPU time, by group in ms, over a block, of what the bench can call its own: its process
    and every process it started (workers, web, simulator), and the PostgreSQL backends
    serving its database, whatever else runs on the machine (CPU_COUNTED).

    Backends come and go (a worker thread's connection opens on its first task), so they are
    looked up every `interval` s in pg_stat_activity and each one's CPU is counted from when
    it was first seen, or from 0 when it started inside the block; what one used between its
    last sample and its exit is lost (at most `interval` s of one backend). Redis serves every
    session's databases from one process and cannot be split by database: its CPU over the
    block is kept as "redis (shared)", beside "all" and not in it."""

    interval = 0.25

    def __init__(self, *, root: int | None = None):
        self.root = root or os.getpid()
        self._first: dict[tuple[int, int], int] = {}  # (pid, start time) -> ticks when first seen
        self._last: dict[tuple[int, int], int] = {}
        self._group: dict[tuple[int, int], str] = {}
        self._tree: set[int] = set()
        self._ticks = 0
        self._redis: list[int] = []
        self._meter_thread: tuple[int, int] | None = None

    def __enter__(self):
        self._since = _boot_ticks()  # a process started after this was started inside the block
        self._redis = [pid for pid in _tree_all() if _command(pid).startswith("redis-server")]
        self._redis_start = sum(stat[1] for stat in map(_stat, self._redis) if stat)
        self._sample(first=True)
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self._sample(last=True)
        self.ms = dict.fromkeys(CPU_GROUPS, 0.0)
        for key, ticks in self._last.items():
            self.ms[self._group[key]] += (ticks - self._first[key]) * 1000 / _CLOCK_TICKS
        if self._meter_thread is not None:  # the meter's own sampling is not the bench's work
            self.ms["bench"] -= self._meter_thread[1] * 1000 / _CLOCK_TICKS
        self.redis_ms = (sum(stat[1] for stat in map(_stat, self._redis) if stat) - self._redis_start) * 1000 / _CLOCK_TICKS

    def _run(self) -> None:
        native = threading.get_native_id()
        try:
            super()._run()
        finally:
            self._meter_thread = (native, (_stat(os.getpid(), native) or (0, 0))[1])
            connection.close()  # this thread's own connection

    def step(self) -> None:
        self._sample()

    def _sample(self, *, first: bool = False, last: bool = False) -> None:
        if self._ticks % 4 == 0 or last:  # the process tree every 1 s: the bench's processes live through a run
            self._tree = _tree([self.root])
        self._ticks += 1
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            backends = {pid for (pid,) in cursor.fetchall()}
        for pid in self._tree | backends:
            stat = _stat(pid)
            if stat is None:
                continue
            key = (pid, stat[0])
            if key not in self._first:
                # seen at the start: counted from here; started since: counted from 0
                new = not first and stat[0] >= self._since
                self._first[key] = 0 if new else stat[1]
                self._group[key] = "postgres" if pid in backends else _cpu_group(pid, _command(pid))
            self._last[key] = stat[1]

    def per_order(self, orders: int) -> dict[str, float]:
        """ms of CPU per order by group, "all" of them together, and "redis (shared)" apart."""
        if not orders:
            return {}
        figures = {group: round(ms / orders, 2) for group, ms in self.ms.items()}
        figures["all"] = round(sum(self.ms.values()) / orders, 2)
        figures[REDIS_SHARED] = round(self.redis_ms / orders, 2)
        return figures


def _boot_ticks() -> int:
    """Now, in clock ticks since boot (what /proc/<pid>/stat's start time counts in)."""
    with open("/proc/uptime") as uptime:
        return int(float(uptime.read().split()[0]) * _CLOCK_TICKS)


def _tree_all() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _acknowledged(simulator: SimulatorClient, *, since_id: int, client_ids: set[str]) -> tuple[list[dict], int, int]:
    """Orders the simulator accepted for `client_ids`: (first order of each id, duplicates, missing)."""
    orders = [order for order in simulator.orders(since_id=since_id) if order["client_order_id"] in client_ids]
    by_id: dict[str, dict] = {}
    duplicates = 0
    for order in orders:
        if order["client_order_id"] in by_id:
            duplicates += 1
        else:
            by_id[order["client_order_id"]] = order
    return list(by_id.values()), duplicates, len(client_ids - set(by_id))


def _last_order_id(simulator: SimulatorClient) -> int:
    orders = simulator.orders(since_id=0)
    return orders[-1]["id"] if orders else 0


def signed_webhook(*, strategy: Strategy, payload: dict) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    signature = hmac.new(strategy.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Signature": f"sha256={signature}"}


PROBE_STRATEGIES = 5  # the webhook throttle allows 120 signals a minute per strategy
PROBE_INTERVAL = 0.15  # seconds: 80 signals a minute per probe strategy, warm-up included


def _signal(strategy: Strategy, *, external_id: str, price: str) -> tuple[bytes, dict]:
    payload = {
        "strategy_id": strategy.pk,
        "external_id": external_id,
        "symbol": SYMBOL,
        "action": "buy",
        "amount": "0.001",
        "price": price,
        "timestamp": int(time.time()),
    }
    return signed_webhook(strategy=strategy, payload=payload)


def warm_up(*, web_url: str, simulator: SimulatorClient, connections: int = 16, requests_each: int = 3) -> list[Strategy]:
    """A running service is warm: signals for strategies nobody copies, over `connections`
    connections at once, so every web worker thread has loaded markets and opened its
    database and broker connections before anything is timed (one request at a time
    reached one thread: the timed webhook then paid a thread's first broker connection).
    Returns those strategies (the webhook probe's)."""
    strategies = []
    for index in range(PROBE_STRATEGIES):
        leader = get_user_model().objects.create_user(username=f"{PREFIX}probe-{index}")
        strategies.append(Strategy.objects.create(owner=leader, name=f"Bench probe {index}", declared_capital=LEADER_CAPITAL))
    price = simulator.prices()[SYMBOL.replace("/", "")]

    def send(connection_index: int) -> None:
        session = requests.Session()
        for request_index in range(requests_each):
            strategy = strategies[(connection_index + request_index) % len(strategies)]
            body, headers = _signal(strategy, external_id=f"warm-{connection_index}-{request_index}", price=price)
            session.post(f"{web_url}/webhook", data=body, headers=headers, timeout=30).raise_for_status()

    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(send, range(connections)))
    return strategies


class WebhookProbe(_Every):
    """While a run is in progress, a signal every PROBE_INTERVAL seconds for strategies
    nobody copies: the leader's webhook response time under the load of N followers' orders."""

    interval = PROBE_INTERVAL

    def __init__(self, *, web_url: str, strategies: list[Strategy], price: str):
        self.web_url, self.strategies, self.price = web_url, strategies, price
        self.latencies_ms: list[float] = []
        self.refused = 0
        self._session = requests.Session()
        self._sent = 0

    def step(self) -> None:
        strategy = self.strategies[self._sent % len(self.strategies)]
        self._sent += 1
        body, headers = _signal(strategy, external_id=f"probe-{uuid.uuid4().hex[:12]}", price=self.price)
        sent = time.perf_counter()
        response = self._session.post(f"{self.web_url}/webhook", data=body, headers=headers, timeout=30)
        if response.status_code == 201:
            self.latencies_ms.append((time.perf_counter() - sent) * 1000)
        else:
            self.refused += 1


def warm_up_workers(*, simulator: SimulatorClient, population: Population, worker_pids: list[int], timeout: float) -> None:
    """Every worker thread has placed an order (its database connection, ccxt client and
    market cache exist) before anything is timed: floor tasks (through the gateway, so on either
    exchange) for a few followers."""
    sample = replace(population, copy_ids=population.copy_ids[:WARM_UP_ORDERS])
    _run_one_order_path(
        "floor", bench_floor_execute, simulator=simulator, population=sample, latency_ms=0, worker_pids=worker_pids, timeout=timeout
    )


# --- The three paths --------------------------------------------------------------------


def run_product(
    *,
    web_url: str,
    simulator: SimulatorClient,
    population: Population,
    latency_ms: int,
    worker_pids: list[int],
    timeout: float,
    probe_strategies: list[Strategy] | None = None,
    price_drift_bps: float = 0.0,
) -> RunResult:
    """One leader trade through the whole product: one signed webhook per leader of the
    population, all sent at once (one thread each) when there are several. `price_drift_bps`:
    the simulated market moves this many basis points per second (up) from the leaders' fills
    until the last copy ends, so a slower fan-out shows up as a worse price gap.

    A follower's delay is taken from times the system recorded: its leader trade's row
    creation (`recorded_at`, the web process's clock as it inserts the row) to the simulator's
    acknowledgement of the follower's order (its clock when it took the order, after the
    injected latency). Both clocks are this machine's."""
    strategy_ids = population.leader_strategy_ids or [population.leader_strategy_id]
    by_id = Strategy.objects.in_bulk(strategy_ids)
    strategies = [by_id[pk] for pk in strategy_ids]
    price = Decimal(simulator.prices()[SYMBOL.replace("/", "")])
    exchange_of = dict(zip(population.copy_ids, population.exchange_ids or ["binance"] * len(population.copy_ids)))
    sides = {exchange: simulator.for_exchange(exchange) for exchange in EXCHANGES if exchange in exchange_of.values()}
    since_ids = {exchange: _last_order_id(side) for exchange, side in sides.items()}
    signals = [
        signed_webhook(
            strategy=strategy,
            payload={
                "strategy_id": strategy.pk,
                "external_id": f"bench-{uuid.uuid4().hex[:12]}",
                "symbol": SYMBOL,
                "action": "buy",
                "position_size_usd": str(LEADER_POSITION_USD),
                "price": str(price),
                "timestamp": int(time.time()),
            },
        )
        for strategy in strategies
    ]
    expected = len(population.copy_ids)
    probe = WebhookProbe(web_url=web_url, strategies=probe_strategies, price=str(price)) if probe_strategies else None

    def send(signal: tuple[bytes, dict]) -> tuple[float, requests.Response]:
        body, headers = signal
        sent = time.perf_counter()
        response = requests.post(f"{web_url}/webhook", data=body, headers=headers, timeout=30)
        return (time.perf_counter() - sent) * 1000, response

    with RssSampler(worker_pids) as rss:
        if len(signals) == 1:
            answers = [send(signals[0])]
        else:
            with ThreadPoolExecutor(max_workers=len(signals)) as pool:
                answers = list(pool.map(send, signals))
        for _, response in answers:
            if response.status_code != 201:
                raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:300]}")
        leader_trade_ids = [response.json()["leader_trade_id"] for _, response in answers]
        copied = CopiedTrade.objects.filter(leader_trade_id__in=leader_trade_ids)
        drift = PriceDrift(simulators=list(sides.values()), price=price, bps_per_second=price_drift_bps) if price_drift_bps else None
        # The probe stops before the drift's end waits the ticker cache out: each of its signals
        # asks the exchange for the price now, and writes it to that cache.
        with drift or contextlib.nullcontext(), probe or contextlib.nullcontext():
            wait_until(
                lambda: copied.count() == expected and not copied.exclude(status__in=CopiedTrade.TERMINAL).exists(),
                timeout=timeout,
                what=f"{expected} copied trades terminal",
                interval=0.25,
            )
    webhooks_ms = [ms for ms, _ in answers]
    webhook_samples = [*webhooks_ms, *(probe.latencies_ms if probe else [])]
    leader_trades = LeaderTrade.objects.in_bulk(leader_trade_ids)
    rows = list(copied.values("client_order_id", "status", "copy_id", "leader_trade_id"))
    origin_of = {row["client_order_id"]: leader_trades[row["leader_trade_id"]].recorded_at.timestamp() for row in rows}
    origin = min(trade.recorded_at for trade in leader_trades.values()).timestamp()
    acked, duplicates, missing, by_exchange = [], 0, 0, {}
    for exchange, side in sides.items():
        exchange_rows = [row for row in rows if exchange_of[row["copy_id"]] == exchange]
        client_ids = {row["client_order_id"] for row in exchange_rows}
        side_acked, side_duplicates, side_missing = _acknowledged(side, since_id=since_ids[exchange], client_ids=client_ids)
        acked += side_acked
        duplicates += side_duplicates
        missing += side_missing
        delays = [(order["ack_time"] - origin_of[order["client_order_id"]]) * 1000 for order in side_acked]
        by_exchange[exchange] = {
            "followers": sum(1 for value in exchange_of.values() if value == exchange),
            "orders": len(side_acked),
            "duplicates": side_duplicates,
            "missing": side_missing,
            "p50_ms": _percentile(delays, 50),
            "p95_ms": _percentile(delays, 95),
            "statuses": _count(row["status"] for row in exchange_rows),
        }
    copy_of = {row["client_order_id"]: row["copy_id"] for row in rows}
    statuses = _count(row["status"] for row in rows)
    places = ack_places(acked, copy_of=copy_of)
    leader_of_row = {row["client_order_id"]: row["leader_trade_id"] for row in rows}
    per_leader = []
    for index, (leader_trade_id, webhook) in enumerate(zip(leader_trade_ids, webhooks_ms)):
        trade = leader_trades[leader_trade_id]
        own = [order for order in acked if leader_of_row[order["client_order_id"]] == leader_trade_id]
        per_leader.append(
            {
                "leader": index,
                "leader_trade_id": leader_trade_id,
                "webhook_ms": round(webhook, 1),
                # the leader trade's time (`traded_at`, what the product's delay_ms counts from) to its row's creation
                "recorded_after_traded_ms": round((trade.recorded_at - trade.traded_at).total_seconds() * 1000, 1),
                "recorded_after_first_s": round(trade.recorded_at.timestamp() - origin, 3),
                "fanout_s": round((trade.fanout_done_at - trade.recorded_at).total_seconds(), 3) if trade.fanout_done_at else None,
                "delay_ms": _distribution([(order["ack_time"] - trade.recorded_at.timestamp()) * 1000 for order in own]),
                # where this leader's followers were served among all the run's orders (0 first, 1 last)
                "mean_place": statistics.fmean(places[copy_of[order["client_order_id"]]] for order in own) if own else None,
            }
        )
    fanouts_done = [trade.fanout_done_at for trade in leader_trades.values() if trade.fanout_done_at]
    return _result(
        path="product",
        followers=expected,
        latency_ms=latency_ms,
        origin=origin,
        origin_of=origin_of,
        acked=acked,
        webhook_ms=max(webhooks_ms),
        webhook_p99_ms=_percentile(webhook_samples, 99),
        enqueue_s=(max(fanouts_done).timestamp() - origin) if len(fanouts_done) == len(leader_trades) else None,
        duplicates=duplicates,
        missing=missing,
        peak_rss_mb=rss.peak_mb,
        extra={
            "statuses": statuses,
            "by_exchange": by_exchange,
            "webhook_samples": len(webhook_samples),
            "webhook_refused": probe.refused if probe else 0,
            "ack_place": places,
            "price_drift_bps_per_s": price_drift_bps,
            "copy_quality": copy_quality_distributions(leader_trade_ids=leader_trade_ids),
            "leaders": per_leader,
            "leader_fairness": leader_fairness(per_leader),
        },
    )


def leader_fairness(per_leader: list[dict]) -> dict | None:
    """Several leader trades fanned out at once: how evenly their followers were served. The
    spread (max - min) of the leaders' delay p50s and p99s, and the range of each leader's
    followers' mean place among all the run's orders (0.5 each when they are interleaved
    evenly; a leader served wholly before the others has about 0.05 of 10)."""
    measured = [leader for leader in per_leader if leader["delay_ms"]]
    if len(measured) < 2:
        return None
    p50s = [leader["delay_ms"]["p50"] for leader in measured]
    p99s = [leader["delay_ms"]["p99"] for leader in measured]
    places = [leader["mean_place"] for leader in measured]
    return {
        "leaders": len(measured),
        "p50_min_ms": min(p50s),
        "p50_max_ms": max(p50s),
        "p50_spread_ms": max(p50s) - min(p50s),
        "p99_spread_ms": max(p99s) - min(p99s),
        "mean_place_min": min(places),
        "mean_place_max": max(places),
    }


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _distribution(values: list) -> dict | None:
    """p50/p95/p99/max (and how many) of a run's figures, None without any."""
    if not values:
        return None
    return {
        "p50": _percentile(values, 50),
        "p95": _percentile(values, 95),
        "p99": _percentile(values, 99),
        "max": max(values),
        "count": len(values),
    }


def copy_quality_distributions(*, leader_trade_ids: list[int]) -> dict:
    """The delay (ms) and price gap (bps) the product recorded on each filled copy of the leader
    trades (copytrade/quality.py): what a follower would be shown, not a bench-side timing. The
    delay counts from the leader trade's `traded_at`: for the bench's signal-only leaders, the
    web process's clock when the signal was priced, a few ms before its row was created."""
    rows = list(
        CopiedTrade.objects.filter(leader_trade_id__in=leader_trade_ids, delay_ms__isnull=False, price_gap_bps__isnull=False).values_list(
            "delay_ms", "price_gap_bps"
        )
    )
    return {
        "delay_ms": _distribution([delay for delay, _ in rows]),
        "gap_bps": _distribution([float(gap) for _, gap in rows]),
    }


class PriceDrift(_Every):
    """The simulated market's price moving `bps_per_second` from `price` while the block runs
    (in whole ticks of 0.01) on each exchange's side given; back at `price` when it ends."""

    interval = 0.1

    def __init__(self, *, simulators: list[SimulatorClient], price: Decimal, bps_per_second: float):
        self.simulators, self.price, self.rate = simulators, price, Decimal(str(bps_per_second)) / 10000
        self.started = time.monotonic()

    def step(self) -> None:
        elapsed = Decimal(str(time.monotonic() - self.started))
        price = (self.price * (1 + self.rate * elapsed)).quantize(Decimal("0.01"))
        for simulator in self.simulators:
            simulator.set_price(symbol=SYMBOL, price=price)

    def __exit__(self, *exc):
        super().__exit__(*exc)
        for simulator in self.simulators:
            simulator.set_price(symbol=SYMBOL, price=self.price)
        ticker_cache_wait_out()


def ticker_cache_wait_out(timeout: float | None = None) -> None:
    """Wait until no process can price anything from a ticker read before now: the gateway
    keeps a last price in Redis for EXCHANGE_TICKER_CACHE_SECONDS and each process keeps it
    until the moment Redis expires it (exchanges/gateways/ccxt_gateway.py), so once the keys
    are gone from Redis no process holds one. After a drifting run the price is set back; a
    leader trade recorded inside that window was priced at the drifted price of the run before
    while its copies filled at the reset one: the negative price gaps of bench/RESULTS.md."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    wait_until(
        lambda: next(client.scan_iter(match="exchanges:ticker:*", count=1000), None) is None,
        timeout=timeout if timeout is not None else settings.EXCHANGE_TICKER_CACHE_SECONDS + 10,
        what="the ticker cache to expire",
        interval=0.05,
    )


def ack_places(acked: list[dict], *, copy_of: dict[str, int]) -> dict[int, float]:
    """Each copy's place in the order the exchange acknowledged the orders, 0 (first) to 1 (last)."""
    ordered = sorted(acked, key=lambda order: (order["ack_time"], order["id"]))
    last = max(len(ordered) - 1, 1)
    return {copy_of[order["client_order_id"]]: index / last for index, order in enumerate(ordered)}


def fairness(runs: list[dict]) -> dict | None:
    """Over several leader trades to the same followers: each follower's mean place (0 first,
    1 last) and how far apart they are. Served in copy-id order, the mean places spread from
    about 0 to 1; in a fair order they gather around 0.5."""
    places: dict[int, list[float]] = {}
    for run in runs:
        for copy_id, place in run["extra"].get("ack_place", {}).items():
            places.setdefault(int(copy_id), []).append(place)
    if len(runs) < 2 or not places:
        return None
    means = [statistics.fmean(values) for values in places.values()]
    return {
        "leader_trades": len(runs),
        "followers": len(means),
        "mean_place_min": min(means),
        "mean_place_max": max(means),
        "mean_place_sd": statistics.pstdev(means),
    }


@shared_task(acks_late=True)
def bench_floor_execute(copied_trade_id: int) -> None:
    """The floor: claim one row, one order to the exchange, write one row. Nothing else."""
    if not CopiedTrade.objects.filter(id=copied_trade_id, status=CopiedTrade.Status.PENDING).update(status=CopiedTrade.Status.EXECUTING):
        return
    row = CopiedTrade.objects.select_related("copy__exchange_account").get(id=copied_trade_id)
    result = gateway_for_account(row.copy.exchange_account).create_order(
        symbol=SYMBOL, side="buy", amount=FLOOR_AMOUNT, client_order_id=row.client_order_id
    )
    CopiedTrade.objects.filter(id=copied_trade_id).update(
        status=CopiedTrade.Status.FILLED,
        filled_amount=result.filled,
        average_price=result.average_price,
        exchange_order_id=result.exchange_order_id,
        acknowledged_at=timezone.now(),
    )


_bare_pool = threading.local()


def _bare_claim_sql() -> str:
    """Claim a pending row and read its account's keys in one statement."""
    ct, rel, account = CopiedTrade, Copy, ExchangeAccount
    col = row_sql.column
    pending = row_sql.unindexed(f"ct.{col(ct, 'status')} = 'pending'")  # by primary key, as the product's claims
    return (
        f"UPDATE {row_sql.table(ct)} ct SET {col(ct, 'status')} = 'executing' FROM {row_sql.table(rel)} r, {row_sql.table(account)} a "
        f"WHERE ct.{col(ct, 'id')} = %s AND {pending} AND r.{col(rel, 'id')} = ct.{col(ct, 'copy')} "
        f"AND a.{col(account, 'id')} = r.{col(rel, 'exchange_account')} "
        f"RETURNING ct.{col(ct, 'client_order_id')}, a.{col(account, 'api_key')}, a.{col(account, 'api_secret')}"
    )


@shared_task(acks_late=True)
def bench_bare_execute(copied_trade_id: int) -> None:
    """The bare floor (issue 17): the same unavoidable I/O as the floor without the gateway:
    claim the row (one statement, keys included), one HMAC-signed order over a pooled urllib3
    connection, write one row. What the product's CPU per order is measured against."""
    with connection.cursor() as cursor:
        cursor.execute(_bare_claim_sql(), [copied_trade_id])
        claimed = cursor.fetchone()
    if claimed is None:
        return
    client_order_id, key_column, secret_column = claimed
    fields = ExchangeAccount._meta
    api_key = fields.get_field("api_key").from_db_value(key_column, None, connection)
    api_secret = fields.get_field("api_secret").from_db_value(secret_column, None, connection)
    query = (
        f"symbol={SYMBOL.replace('/', '')}&side=BUY&type=MARKET&quantity={FLOOR_AMOUNT}&newClientOrderId={client_order_id}"
        f"&timestamp={int(time.time() * 1000)}"
    )
    signature = hmac.new(api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    pool = getattr(_bare_pool, "pool", None)
    if pool is None:
        pool = _bare_pool.pool = urllib3.PoolManager(maxsize=4)
    response = pool.request(
        "POST",
        f"{settings.EXCHANGE_URL_OVERRIDES['binance']}/api/v3/order",
        body=f"{query}&signature={signature}",
        headers={"X-MBX-APIKEY": api_key, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10.0,
    )
    if response.status != 200:
        raise RuntimeError(f"bare order refused: {response.status} {response.data[:200]!r}")
    order = json.loads(response.data)
    col = row_sql.column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {row_sql.table(CopiedTrade)} SET {col(CopiedTrade, 'status')} = 'filled', "
            f"{col(CopiedTrade, 'exchange_order_id')} = %s, {col(CopiedTrade, 'acknowledged_at')} = %s "
            f"WHERE {col(CopiedTrade, 'id')} = %s",
            [str(order.get("orderId", "")), timezone.now(), copied_trade_id],
        )


def _bare_leader_trade(*, strategy_id: int, price: Decimal, amount: Decimal, prefix: str) -> LeaderTrade:
    """A leader trade row for copied trades made here to hang on; marked fanned out, so
    nothing fans it out."""
    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().get(pk=strategy_id)
        strategy.last_sequence += 1
        strategy.save(update_fields=["last_sequence"])
        return LeaderTrade.objects.create(
            strategy=strategy,
            external_id=f"{prefix}-{uuid.uuid4().hex[:12]}",
            sequence=strategy.last_sequence,
            symbol=SYMBOL,
            side="buy",
            amount=amount,
            price=price,
            notional=amount * price,
            leader_equity=LEADER_CAPITAL,
            effect=LeaderTrade.Effect.INCREASE,
            position_after=amount,
            source=Strategy.Source.API,
            traded_at=timezone.now(),
            fanout_done_at=timezone.now(),
        )


def _floor_row(leader_trade: LeaderTrade, *, copy_id: int, follower_id: int) -> CopiedTrade:
    return CopiedTrade(
        copy_id=copy_id,
        leader_trade=leader_trade,
        sequence=leader_trade.sequence,
        follower_id=follower_id,
        leader_user_id=leader_trade.strategy.owner_id,
        strategy_id=leader_trade.strategy_id,
        symbol=SYMBOL,
        side="buy",
        effect=leader_trade.effect,
        client_order_id=f"fl{leader_trade.pk}x{copy_id}",
    )


def run_floor(*, simulator: SimulatorClient, population: Population, latency_ms: int, worker_pids: list[int], timeout: float) -> RunResult:
    """The floor on the Binance followers (a baseline of Binance spot orders)."""
    return _run_one_order_path(
        "floor",
        bench_floor_execute,
        simulator=simulator,
        population=population.on("binance"),
        latency_ms=latency_ms,
        worker_pids=worker_pids,
        timeout=timeout,
    )


def run_bare(*, simulator: SimulatorClient, population: Population, latency_ms: int, worker_pids: list[int], timeout: float) -> RunResult:
    """The bare floor on the Binance followers (it signs Binance's order API by hand)."""
    return _run_one_order_path(
        "bare",
        bench_bare_execute,
        simulator=simulator,
        population=population.on("binance"),
        latency_ms=latency_ms,
        worker_pids=worker_pids,
        timeout=timeout,
    )


def _run_one_order_path(
    path: str, task, *, simulator: SimulatorClient, population: Population, latency_ms: int, worker_pids: list[int], timeout: float
) -> RunResult:
    """One order per follower by `task` (the floor or the bare path), as the fan-out would send them
    (counted on the Binance side of the simulator)."""
    price = Decimal(simulator.prices()[SYMBOL.replace("/", "")])
    copies = list(Copy.objects.filter(pk__in=population.copy_ids).values_list("pk", "follower_id", "strategy_id"))
    # One leader trade per leader (with several, each copy's rows stay in its own strategy's sequence).
    leader_trades = {
        strategy_id: _bare_leader_trade(strategy_id=strategy_id, price=price, amount=FLOOR_AMOUNT, prefix=path)
        for strategy_id in sorted({strategy_id for _, _, strategy_id in copies})
    }
    rows = CopiedTrade.objects.bulk_create(
        [_floor_row(leader_trades[strategy_id], copy_id=pk, follower_id=follower_id) for pk, follower_id, strategy_id in copies]
    )
    since_id = _last_order_id(simulator)
    ids = [row.pk for row in rows]
    with RssSampler(worker_pids) as rss:
        origin = time.time()
        # Published as the fan-out publishes: one producer for all.
        with current_app.producer_or_acquire() as producer:
            for copied_trade_id in ids:
                task.apply_async((copied_trade_id,), queue="execution", producer=producer)
        enqueue_s = time.time() - origin
        done = CopiedTrade.objects.filter(pk__in=ids, status=CopiedTrade.Status.FILLED)
        wait_until(lambda: done.count() == len(ids), timeout=timeout, what=f"{len(ids)} {path} orders", interval=0.25)
    acked, duplicates, missing = _acknowledged(simulator, since_id=since_id, client_ids={row.client_order_id for row in rows})
    return _result(
        path=path,
        followers=len(ids),
        latency_ms=latency_ms,
        origin=origin,
        acked=acked,
        webhook_ms=None,
        webhook_p99_ms=None,
        enqueue_s=enqueue_s,
        duplicates=duplicates,
        missing=missing,
        peak_rss_mb=rss.peak_mb,
    )


def naive_population_create(*, population: Population, count: int) -> list[int]:
    """Seed 000's design: a follower's copy is a webhook call on the follower's own account.
    One strategy per follower, led by the follower's account, so the webhook places the
    follower's order synchronously before answering. Binance followers only."""
    accounts = ExchangeAccount.objects.filter(pk__in=population.on("binance").account_ids[:count]).order_by("pk")
    strategies = Strategy.objects.bulk_create(
        [Strategy(owner_id=a.owner_id, name="Bench naive", kind=Strategy.Kind.MANUAL, leader_account=a) for a in accounts]
    )
    return [s.pk for s in strategies]


def run_naive(*, web_url: str, simulator: SimulatorClient, strategy_ids: list[int], latency_ms: int) -> RunResult:
    strategies = list(Strategy.objects.filter(pk__in=strategy_ids).order_by("pk"))
    since_id = _last_order_id(simulator)
    session = requests.Session()
    latencies = []
    origin = time.time()
    for strategy in strategies:
        body, headers = signed_webhook(
            strategy=strategy,
            payload={
                "strategy_id": strategy.pk,
                "external_id": f"naive-{uuid.uuid4().hex[:12]}",
                "symbol": SYMBOL,
                "action": "buy",
                "amount": str(FLOOR_AMOUNT),
                "timestamp": int(time.time()),
            },
        )
        sent = time.time()
        response = session.post(f"{web_url}/webhook", data=body, headers=headers, timeout=60)
        if response.status_code != 201:
            raise RuntimeError(f"naive webhook answered {response.status_code}: {response.text[:300]}")
        latencies.append((time.time() - sent) * 1000)
    orders = simulator.orders(since_id=since_id)
    elapsed = time.time() - origin
    return RunResult(
        path="naive",
        followers=len(strategies),
        latency_ms=latency_ms,
        orders=len(orders),
        webhook_ms=None,
        webhook_p99_ms=None,
        enqueue_s=None,
        first_ack_ms=(orders[0]["ack_time"] - origin) * 1000 if orders else None,
        last_ack_s=elapsed,
        orders_per_s=len(orders) / elapsed if elapsed else None,
        p50_ms=_percentile(latencies, 50),
        p95_ms=_percentile(latencies, 95),
        p99_ms=_percentile(latencies, 99),
        duplicates=max(0, len(orders) - len(strategies)),
        missing=max(0, len(strategies) - len(orders)),
        peak_rss_mb=None,
    )


def _result(
    *,
    path,
    followers,
    latency_ms,
    origin,
    acked,
    webhook_ms,
    webhook_p99_ms,
    enqueue_s,
    duplicates,
    missing,
    peak_rss_mb,
    extra=None,
    origin_of: dict[str, float] | None = None,
) -> RunResult:
    """`origin`: when the run's (first) leader trade was recorded; `origin_of`: each order's own
    leader trade's recording, by client order id, when several leader trades ran at once. The
    delays (p50/p95/p99, and their max in `extra["delay_ms"]`) count from the order's own leader
    trade; the last acknowledgement and the orders per second from `origin`."""
    delays = [(order["ack_time"] - (origin_of[order["client_order_id"]] if origin_of else origin)) * 1000 for order in acked]
    last_s = max((order["ack_time"] - origin for order in acked), default=None)
    return RunResult(
        path=path,
        followers=followers,
        latency_ms=latency_ms,
        orders=len(acked),
        webhook_ms=webhook_ms,
        webhook_p99_ms=webhook_p99_ms,
        enqueue_s=enqueue_s,
        first_ack_ms=min(delays) if delays else None,
        last_ack_s=last_s,
        orders_per_s=len(acked) / last_s if last_s else None,
        p50_ms=_percentile(delays, 50),
        p95_ms=_percentile(delays, 95),
        p99_ms=_percentile(delays, 99),
        duplicates=duplicates,
        missing=missing,
        peak_rss_mb=peak_rss_mb,
        extra={**(extra or {}), "delay_ms": _distribution(delays)},
    )


def queries_per_task(*, execute, copied_trade_id: int) -> int:
    """SQL statements one follower task issues, counted in this process."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        execute(copied_trade_id)
    return len(captured.captured_queries)


def sql_statements_per_task(*, simulator: SimulatorClient, population: Population) -> dict[str, int]:
    """SQL statements one follower's task issues, {"product": n, "floor": n, "bare": n}: one more order
    of each kind for the first Binance follower, run in this process (BEGIN and COMMIT count);
    nothing without a Binance follower (the floor and bare orders are Binance's)."""
    from copytrade.services.execution import copied_trade_execute
    from copytrade.services.fanout import _mirror_row

    binance = population.on("binance")
    if not binance.copy_ids:
        return {}
    price = Decimal(simulator.prices()[SYMBOL.replace("/", "")])
    copy_id = binance.copy_ids[0]
    follower_id = Copy.objects.values_list("follower_id", flat=True).get(pk=copy_id)
    amount = (LEADER_POSITION_USD / price).quantize(Decimal("0.00001"))
    product_trade = _bare_leader_trade(strategy_id=population.leader_strategy_id, price=price, amount=amount, prefix="sql")
    product_row = _mirror_row(product_trade, copy_id, follower_id, now=timezone.now(), place=1)
    product_row.save()
    floor_trade = _bare_leader_trade(strategy_id=population.leader_strategy_id, price=price, amount=FLOOR_AMOUNT, prefix="sqlfloor")
    floor_row = _floor_row(floor_trade, copy_id=copy_id, follower_id=follower_id)
    floor_row.save()
    bare_trade = _bare_leader_trade(strategy_id=population.leader_strategy_id, price=price, amount=FLOOR_AMOUNT, prefix="sqlbare")
    bare_row = _floor_row(bare_trade, copy_id=copy_id, follower_id=follower_id)
    bare_row.save()
    counts = {
        "product": queries_per_task(execute=lambda pk: copied_trade_execute(copied_trade_id=pk), copied_trade_id=product_row.pk),
        "floor": queries_per_task(execute=bench_floor_execute, copied_trade_id=floor_row.pk),
        "bare": queries_per_task(execute=bench_bare_execute, copied_trade_id=bare_row.pk),
    }
    statuses = dict(CopiedTrade.objects.filter(pk__in=[product_row.pk, floor_row.pk, bare_row.pk]).values_list("pk", "status"))
    if set(statuses.values()) != {CopiedTrade.Status.FILLED}:
        raise RuntimeError(f"the SQL count's orders did not fill: {statuses}")
    return counts


def as_dict(result: RunResult) -> dict:
    return asdict(result)
