"""The service across hosts (issue 17, `make multihost`, `manage.py multihost`).

Five hosts on this machine, each a Linux network namespace with its own address on a
private bridge (10.213.0.0/24; the bridge's own address, .1, is the operator's console,
this process):

- db  (.2): a private redis-server (broker) and a TCP forwarder to this machine's
  PostgreSQL Unix socket (devtools/netforward.py), so every query crosses the links;
- sim (.3): the exchange simulator;
- web (.4): gunicorn;
- wa, wb (.5, .6): one Celery worker each on every queue (fan-out and execution), each
  with its own EXCHANGE_EGRESS_ID (its address), so each gets its own per-IP order budget.

A signed webhook to the web host fans a leader trade out to N followers; once a share of
their orders has reached the simulator, every process of host wb is SIGKILLed. This
process then plays beat's sweeper (copied_trades_sweep, every second) until every copied
trade is final, and counts the simulator's orders per follower account: exactly one each.

Only the namespaces, links and addresses made here are used, and they are removed at the
end, also on failure, Ctrl-C or SIGTERM; a run killed outright leaves them for the next run
to remove (a lock file keeps two runs apart). Needs root and iproute2 (`ip`).
"""

import fcntl
import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import redis
import requests
from django.conf import settings
from django.test.utils import override_settings

from devtools import bench
from devtools.processes import (
    ALL_QUEUES,
    BASE_DIR,
    PYTHON,
    celery_worker_process,
    database_url,
    in_netns,
    simulator_process,
    wait_until,
    web_process,
)
from devtools.simulator.client import SimulatorClient

PREFIX = "ct213-"
BRIDGE = f"{PREFIX}br"
SUBNET = ipaddress.ip_network("10.213.0.0/24")
HOSTS = ("db", "sim", "web", "wa", "wb")
WORKER_HOSTS = ("wa", "wb")
LOCK_PATH = "/run/copytrade-multihost.lock"
IFNAME_MAX = 15  # Linux interface names: 15 characters
REDIS_PORT = 6379
POSTGRES_PORT = 5432
SIMULATOR_PORT = 8765
KILL_WAIT_SECONDS = 10.0
SWEEP_EVERY_SECONDS = 1.0


class MultihostError(RuntimeError):
    pass


# --- The plan: names, addresses, commands (no side effects; tested without root) -------------


@dataclass(frozen=True)
class Host:
    name: str
    address: str

    @property
    def netns(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def veth(self) -> str:
        """The link's end on the bridge; its peer, renamed eth0, is inside the namespace."""
        return f"{PREFIX}{self.name}"

    @property
    def veth_peer(self) -> str:
        return f"{self.veth}-p"


def plan(names: Iterable[str] = HOSTS, *, subnet: ipaddress.IPv4Network = SUBNET) -> list[Host]:
    """A host per name, addresses from the subnet's second one on (the first is the bridge's)."""
    names = list(names)
    if not subnet.is_private:
        raise MultihostError(f"{subnet} is not a private network")
    if len(set(names)) != len(names):
        raise MultihostError(f"host names repeat: {names}")
    addresses = list(subnet.hosts())
    if len(names) + 1 > len(addresses):
        raise MultihostError(f"{subnet} has no room for {len(names)} hosts and the bridge")
    hosts = [Host(name=name, address=str(address)) for name, address in zip(names, addresses[1:])]
    for host in hosts:
        if not host.name.isalnum() or len(host.veth_peer) > IFNAME_MAX:
            raise MultihostError(f"host name {host.name!r}: letters and digits, at most {IFNAME_MAX - len(PREFIX) - 2}")
    return hosts


def bridge_address(subnet: ipaddress.IPv4Network = SUBNET) -> str:
    return str(next(subnet.hosts()))


def setup_commands(hosts: list[Host], *, subnet: ipaddress.IPv4Network = SUBNET) -> list[list[str]]:
    """The `ip` commands that build the network: a bridge, and per host a namespace joined to
    it by a veth pair, with loopback up and the host's address on eth0."""
    prefix = subnet.prefixlen
    commands = [
        ["ip", "link", "add", BRIDGE, "type", "bridge"],
        ["ip", "addr", "add", f"{bridge_address(subnet)}/{prefix}", "dev", BRIDGE],
        ["ip", "link", "set", BRIDGE, "up"],
    ]
    for host in hosts:
        commands += [
            ["ip", "netns", "add", host.netns],
            ["ip", "link", "add", host.veth, "type", "veth", "peer", "name", host.veth_peer],
            ["ip", "link", "set", host.veth_peer, "netns", host.netns],
            ["ip", "link", "set", host.veth, "master", BRIDGE],
            ["ip", "link", "set", host.veth, "up"],
            ["ip", "-n", host.netns, "link", "set", "lo", "up"],
            ["ip", "-n", host.netns, "link", "set", host.veth_peer, "name", "eth0"],
            ["ip", "-n", host.netns, "addr", "add", f"{host.address}/{prefix}", "dev", "eth0"],
            ["ip", "-n", host.netns, "link", "set", "eth0", "up"],
        ]
    return commands


def ours(names: Iterable[str]) -> list[str]:
    """Of `names` (namespaces or links), those this module makes (the prefix), never others."""
    return [name for name in names if name.startswith(PREFIX)]


def namespaced_url(url: str, *, host: str, port: int) -> str:
    """`url` with its host and port replaced (credentials, path and query kept)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def duplicates_and_missing(orders: list[dict], *, api_keys: list[str]) -> tuple[int, int, Counter]:
    """Orders per follower account: (extra orders beyond one, accounts with none, count per key)."""
    wanted = set(api_keys)
    per_key = Counter(order["api_key"] for order in orders if order["api_key"] in wanted)
    duplicates = sum(count - 1 for count in per_key.values() if count > 1)
    missing = len(wanted - set(per_key))
    return duplicates, missing, per_key


# --- The network -------------------------------------------------------------------------------


def _ip(*args: str, check: bool = True) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise MultihostError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def netns_names() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def netns_pids(netns: str) -> list[int]:
    return [int(pid) for pid in _ip("netns", "pids", netns, check=False).split()]


def netns_kill(netns: str, *, timeout: float = KILL_WAIT_SECONDS) -> list[int]:
    """SIGKILL every process in `netns` (a host that crashes); returns their pids once gone."""
    killed: set[int] = set()

    def gone() -> bool:
        pids = netns_pids(netns)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        return not pids

    wait_until(gone, timeout=timeout, what=f"the processes of {netns} gone", interval=0.05)
    return sorted(killed)


def requirements_missing() -> str | None:
    """Why this machine cannot build the network, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for program in ("ip", "redis-server"):
        if shutil.which(program) is None:
            return f"needs `{program}`"
    return None


class Network:
    """The bridge and the hosts' namespaces, made on entry and removed on exit (every process
    still inside is SIGKILLed first). Leftovers of an earlier run killed outright are removed
    on entry; a lock file keeps two runs on one machine apart."""

    def __init__(self, hosts: list[Host], *, subnet: ipaddress.IPv4Network = SUBNET, lock_path: str = LOCK_PATH):
        self.hosts, self.subnet, self.lock_path = hosts, subnet, lock_path
        self._lock = None

    def __enter__(self) -> "Network":
        self._lock = open(self.lock_path, "w")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise MultihostError(f"another multi-host run holds {self.lock_path}") from None
        try:
            self.remove()
            for command in setup_commands(self.hosts, subnet=self.subnet):
                subprocess.run(command, check=True, capture_output=True, text=True)
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            if isinstance(exc, subprocess.CalledProcessError):
                raise MultihostError(f"{' '.join(exc.cmd)}: {exc.stderr.strip()}") from exc
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.remove()
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def remove(self) -> None:
        """Every namespace and link of ours, with the processes still inside."""
        for netns in ours(netns_names()):
            netns_kill(netns)
            _ip("netns", "del", netns, check=False)
        links = [line.split(":")[1].strip().split("@")[0] for line in _ip("-o", "link", "show").splitlines()]
        for link in ours(links):
            _ip("link", "del", link, check=False)

    def host(self, name: str) -> Host:
        return next(host for host in self.hosts if host.name == name)


@contextmanager
def exit_on_signals():
    """SIGTERM and SIGHUP end the run as Ctrl-C does: the clean-up runs (main thread only)."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --- The db host ---------------------------------------------------------------------------------


@contextmanager
def redis_on(host: Host, *, log=None):
    """A private redis-server on the host's address: the broker of every host. Yields its URL."""
    directory = tempfile.mkdtemp(prefix="copytrade-multihost-redis-")
    command = [
        "redis-server",
        "--bind",
        host.address,
        "--port",
        str(REDIS_PORT),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--dir",
        directory,
        "--loglevel",
        "warning",
    ]
    process = subprocess.Popen(in_netns(host.netns, command), stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            with redis.Redis(host=host.address, port=REDIS_PORT, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        wait_until(answers, timeout=15, what=f"redis-server on {host.name}", process=process)
        yield f"redis://{host.address}:{REDIS_PORT}/0"
    finally:
        _terminate(process)
        shutil.rmtree(directory, ignore_errors=True)


def postgres_socket() -> str:
    """This machine's PostgreSQL Unix socket (the database this process uses)."""
    from django.db import connection

    host = connection.settings_dict.get("HOST") or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
        raise MultihostError(f"the multi-host run forwards to a PostgreSQL on this machine, not {host}")
    with connection.cursor() as cursor:
        cursor.execute("SHOW unix_socket_directories")
        directory = cursor.fetchone()[0].split(",")[0].strip()
        cursor.execute("SHOW port")
        port = cursor.fetchone()[0]
    return os.path.join(directory, f".s.PGSQL.{port}")


@contextmanager
def postgres_on(host: Host, *, log=None):
    """PostgreSQL reachable at the host's address (devtools/netforward.py); yields the
    DATABASE_URL the other hosts use."""
    command = [PYTHON, "-m", "devtools.netforward", "--listen", f"{host.address}:{POSTGRES_PORT}", "--unix", postgres_socket()]
    process = subprocess.Popen(
        in_netns(host.netns, command),
        cwd=BASE_DIR,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = namespaced_url(database_url(), host=host.address, port=POSTGRES_PORT)

    def answers() -> bool:
        import psycopg2

        try:
            connection = psycopg2.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=2)
        except psycopg2.Error:
            return False
        connection.close()
        return True

    try:
        wait_until(answers, timeout=15, what=f"PostgreSQL through {host.name}", process=process, interval=0.2)
        yield url
    finally:
        _terminate(process)


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def broker_at(url: str):
    """This process's Celery broker is `url` until the block ends (the sweeper and the
    workers' readiness pings go to the db host's Redis)."""
    from celery import current_app
    from kombu import pools

    app = current_app._get_current_object()

    def reset() -> None:
        pools.reset()
        app._pool = None
        amqp = app.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None

    previous = app.conf.broker_url
    with override_settings(CELERY_BROKER_URL=url):
        reset()
        app.conf.broker_url = url
        try:
            yield
        finally:
            reset()
            app.conf.broker_url = previous


# --- The run -------------------------------------------------------------------------------------


@dataclass
class Figures:
    hosts: dict[str, str]
    followers: int
    latency_ms: float
    killed_host: str
    kill_s: float | None = None  # after the webhook
    orders_at_kill: int = 0
    open_at_kill: dict[str, int] = field(default_factory=dict)
    killed_pids: list[int] = field(default_factory=list)
    claims_taken_back: int = 0  # rows executing at the kill that the sweeper enqueued again
    settle_s: float = 0.0  # COPYTRADE_ORDER_SETTLE_SECONDS: a dead host's unanswered order is re-sent only after it
    all_final_s: float | None = None  # after the webhook
    recovered_s: float | None = None  # from the kill to all final
    sweeps: int = 0
    swept: int = 0  # distinct copied trades the sweeper enqueued again
    orders: int = 0
    duplicates: int = 0
    missing: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    orders_by_host: dict[str, int] = field(default_factory=dict)
    orders_by_host_after_kill: dict[str, int] = field(default_factory=dict)
    egress_buckets: list[str] = field(default_factory=list)  # the per-IP rate-limit buckets in the broker's Redis

    def as_dict(self) -> dict:
        return asdict(self)


def run(
    *,
    followers: int = 300,
    latency_ms: float = 200.0,
    kill_after: float = 0.3,
    lease_seconds: int = 5,
    stuck_after: float = 2.0,
    concurrency: int = 8,
    timeout: float = 120.0,
    log=None,
    step: Callable[[str], None] = lambda text: None,
) -> Figures:
    """Build the hosts, fan a leader trade out to `followers`, SIGKILL host wb once
    `kill_after` of the orders are at the simulator, sweep until all is final; the figures.
    Runs against this process's database (the test database under pytest)."""
    if not 0 < kill_after < 1:
        raise MultihostError("kill_after is a share of the orders, between 0 and 1")
    hosts = plan(HOSTS)
    by_name = {host.name: host for host in hosts}
    killed = by_name[WORKER_HOSTS[-1]]
    figures = Figures(
        hosts={host.name: host.address for host in hosts},
        followers=followers,
        latency_ms=latency_ms,
        killed_host=killed.name,
        settle_s=settings.COPYTRADE_ORDER_SETTLE_SECONDS,
    )
    with ExitStack() as stack:
        stack.enter_context(exit_on_signals())
        step(f"network: bridge {BRIDGE} {bridge_address()}, " + ", ".join(f"{h.name} {h.address}" for h in hosts))
        stack.enter_context(Network(hosts))
        db = by_name["db"]
        redis_url = stack.enter_context(redis_on(db, log=log))
        database = stack.enter_context(postgres_on(db, log=log))
        stack.enter_context(broker_at(redis_url))
        # The population is removed once web and the workers have stopped (on the way out,
        # also after a failure): nothing is writing its rows any more by then.
        bench.bench_reset()
        stack.callback(bench.bench_reset)
        sim = by_name["sim"]
        simulator_url = stack.enter_context(
            simulator_process(host=sim.address, port=SIMULATOR_PORT, netns=sim.netns, control_from=str(SUBNET), log=log)
        )
        env = {
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "TEST_REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "EXCHANGE_URL_OVERRIDES": f"binance={simulator_url}",
            "DEBUG": "false",
            # A crashed host's claims expire soon, so the sweeper (run here every second) takes them back within the run.
            "COPYTRADE_EXECUTION_LEASE_SECONDS": str(lease_seconds),
            "COPYTRADE_STUCK_AFTER_SECONDS": str(int(stuck_after)),
        }
        web = by_name["web"]
        step(f"web on {web.name}, simulator on {sim.name} ({simulator_url}), PostgreSQL and Redis on {db.name}")
        web_url = stack.enter_context(
            web_process(env={**env, "ALLOWED_HOSTS": web.address}, workers=1, threads=4, host=web.address, netns=web.netns, log=log)
        )
        for name in WORKER_HOSTS:
            host = by_name[name]
            step(f"worker on {name} (EXCHANGE_EGRESS_ID={host.address})")
            stack.enter_context(
                celery_worker_process(
                    env={**env, "EXCHANGE_EGRESS_ID": host.address},
                    queues=ALL_QUEUES,
                    pool="threads",
                    concurrency=concurrency,
                    name=f"multihost-{name}",
                    netns=host.netns,
                    log=log,
                )
            )
        simulator = SimulatorClient(simulator_url)
        step(f"{followers} followers on the simulator")
        population = bench.population_create(simulator=simulator, followers=followers)
        _fan_out_kill_sweep(
            figures,
            web_url=web_url,
            simulator=simulator,
            population=population,
            killed=killed,
            hosts=hosts,
            redis_url=redis_url,
            latency_ms=latency_ms,
            kill_after=kill_after,
            stuck_after=stuck_after,
            timeout=timeout,
            step=step,
        )
    return figures


def _fan_out_kill_sweep(
    figures: Figures,
    *,
    web_url,
    simulator: SimulatorClient,
    population,
    killed: Host,
    hosts: list[Host],
    redis_url: str,
    latency_ms: float,
    kill_after: float,
    stuck_after: float,
    timeout: float,
    step,
) -> None:
    from copytrade.models import CopiedTrade, Strategy
    from copytrade.services.sweeper import copied_trades_sweep

    strategy = Strategy.objects.get(pk=population.leader_strategy_id)
    simulator.set_faults(latency_ms=latency_ms)
    price = Decimal(simulator.prices()[bench.SYMBOL.replace("/", "")])
    since_id = bench._last_order_id(simulator)
    body, headers = bench.signed_webhook(
        strategy=strategy,
        payload={
            "strategy_id": strategy.pk,
            "external_id": f"multihost-{uuid.uuid4().hex[:12]}",
            "symbol": bench.SYMBOL,
            "action": "buy",
            "position_size_usd": str(bench.LEADER_POSITION_USD),
            "price": str(price),
            "timestamp": int(time.time()),
        },
    )
    wanted = set(population.api_keys)

    def placed() -> list[dict]:
        return [order for order in simulator.orders(since_id=since_id) if order["api_key"] in wanted]

    step(f"signed webhook to {web_url}; host {killed.name} is killed once {kill_after:.0%} of the orders are placed")
    sent = time.monotonic()
    response = requests.post(f"{web_url}/webhook", data=body, headers=headers, timeout=30)
    if response.status_code != 201:
        raise MultihostError(f"webhook answered {response.status_code}: {response.text[:300]}")
    copied = CopiedTrade.objects.filter(leader_trade_id=response.json()["leader_trade_id"])
    threshold = max(1, int(kill_after * figures.followers))
    wait_until(lambda: len(placed()) >= threshold, timeout=timeout, what=f"{threshold} orders before the kill", interval=0.02)
    figures.killed_pids = netns_kill(killed.netns)
    killed_at = time.monotonic()
    figures.kill_s = round(killed_at - sent, 2)
    before_kill = placed()
    figures.orders_at_kill = len(before_kill)
    open_rows = list(copied.exclude(status__in=CopiedTrade.TERMINAL).values_list("id", "status"))
    figures.open_at_kill = dict(Counter(status for _, status in open_rows))
    executing_at_kill = {pk for pk, status in open_rows if status == CopiedTrade.Status.EXECUTING}
    step(
        f"killed {killed.name} at {figures.kill_s:.2f} s ({len(figures.killed_pids)} process(es), {figures.orders_at_kill} orders "
        f"placed, open rows {figures.open_at_kill}); sweeping every second"
    )
    swept: set[int] = set()
    deadline = time.monotonic() + timeout

    def all_final() -> bool:
        return copied.count() == figures.followers and not copied.exclude(status__in=CopiedTrade.TERMINAL).exists()

    next_sweep = time.monotonic()
    while not all_final():
        now = time.monotonic()
        if now > deadline:
            open_rows = dict(Counter(copied.exclude(status__in=CopiedTrade.TERMINAL).values_list("status", flat=True)))
            raise MultihostError(f"not all final {timeout:.0f} s after the kill: open {open_rows}")
        if now >= next_sweep:  # beat runs it every minute; this run is in a hurry
            outcome = copied_trades_sweep(stuck_after=timedelta(seconds=stuck_after))
            figures.sweeps += 1
            swept.update(outcome.copied_trade_ids)
            next_sweep = now + SWEEP_EVERY_SECONDS
        time.sleep(0.1)  # a polling interval, not a synchronisation
    done = time.monotonic()
    figures.all_final_s = round(done - sent, 2)
    figures.recovered_s = round(done - killed_at, 2)
    figures.swept = len(swept)
    # Rows executing at the kill and swept later: the killed host's claims (a live host
    # finishes each within the exchange latency, one order per follower here).
    figures.claims_taken_back = len(executing_at_kill & swept)
    figures.statuses = dict(Counter(copied.values_list("status", flat=True)))
    orders = placed()
    figures.orders = len(orders)
    figures.duplicates, figures.missing, _ = duplicates_and_missing(orders, api_keys=population.api_keys)
    name_of = {host.address: host.name for host in hosts}
    before = {order["id"] for order in before_kill}

    def by_host(selected: list[dict]) -> dict[str, int]:
        counts = Counter(name_of.get(order.get("remote"), str(order.get("remote"))) for order in selected)
        return {name: counts.pop(name, 0) for name in WORKER_HOSTS} | dict(counts)

    figures.orders_by_host = by_host(orders)
    figures.orders_by_host_after_kill = by_host([order for order in orders if order["id"] not in before])
    with redis.Redis.from_url(redis_url) as client:  # one per-IP bucket per worker host's EXCHANGE_EGRESS_ID
        figures.egress_buckets = sorted(key.decode() for key in client.scan_iter(match="*ratelimit:*:exchange*"))


def report_lines(figures: Figures) -> list[str]:
    hosts = ", ".join(f"{name} {address}" for name, address in figures.hosts.items())
    return [
        f"hosts: {len(figures.hosts)} ({hosts})",
        f"followers: {figures.followers} (exchange latency {figures.latency_ms:.0f} ms)",
        f"kill: host {figures.killed_host} SIGKILLed {figures.kill_s} s after the webhook ({len(figures.killed_pids)} process(es); "
        f"{figures.orders_at_kill} orders placed by then; open rows {figures.open_at_kill})",
        f"all final: {figures.all_final_s} s after the webhook, {figures.recovered_s} s after the kill "
        f"({figures.sweeps} sweeps; {figures.swept} copied trades enqueued again, {figures.claims_taken_back} of them "
        f"claims the killed host held)",
        f"  (a claim the dead host left is looked up at the exchange by its client order id; one not found there is "
        f"placed again only {figures.settle_s:.0f} s after it was sent, COPYTRADE_ORDER_SETTLE_SECONDS)",
        f"orders: {figures.orders} (by host {figures.orders_by_host}; after the kill {figures.orders_by_host_after_kill})",
        f"copied trades: {figures.statuses}",
        f"per-IP buckets: {figures.egress_buckets}",
        f"duplicates: {figures.duplicates}",
        f"missing: {figures.missing}",
    ]
