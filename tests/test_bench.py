"""`make bench` in small: the benchmark's three paths run end to end against real
processes (simulator, web server, execution and fan-out workers) and report what the
issue asks for. The figures themselves live in bench/RESULTS.md, not in a timed test."""

import json
import os
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from copytrade.models import CopiedTrade


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_benchmark_runs_the_four_paths_and_counts_every_order(tmp_path, settings):
    # The command points this process at its own simulator; the fixture restores the setting.
    settings.EXCHANGE_URL_OVERRIDES = dict(settings.EXCHANGE_URL_OVERRIDES)
    output, out = tmp_path / "latest.json", StringIO()

    call_command(
        "bench_fanout",
        followers=[6],
        leaders=2,  # two leader trades at once, 6 copies each (issue 31)
        repeat=1,
        latencies=[0],
        naive_followers=3,
        bybit_share=0.5,
        timeout=120,
        output=str(output),
        stdout=out,
        price_drift_bps=20,
    )

    report = json.loads(output.read_text())
    runs = {run["path"]: run for run in report["runs"]}
    assert set(runs) == {"product", "floor", "bare", "naive"}
    assert all((run["duplicates"], run["missing"]) == (0, 0) for run in runs.values()), runs
    product, floor = runs["product"], runs["floor"]
    assert (product["orders"], product["extra"]["statuses"]) == (12, {"filled": 12})
    # The raw-Binance baselines ran on the Binance half of the followers only.
    assert floor["orders"] == 6 and runs["bare"]["orders"] == 6 and runs["naive"]["orders"] == 3
    assert (product["sql_per_task"], floor["sql_per_task"], runs["bare"]["sql_per_task"]) == (3, 3, 2)
    # CPU per order of the bench's processes and its database's backends, by group: the workers
    # and PostgreSQL did the work. The simulator's share of 12 orders can be under one clock
    # tick (10 ms) of /proc, so read 0. Redis is shared with every session: beside "all", not in it.
    cpu = product["cpu_ms_per_order"]
    assert cpu["execution workers"] > 0 and cpu["postgres"] > 0 and cpu["simulator"] >= 0 and cpu["redis (shared)"] >= 0
    assert cpu["all"] >= sum(value for group, value in cpu.items() if group not in ("all", "redis (shared)")) - 0.05
    assert "redis (shared)" in out.getvalue() and "CPU counted:" in out.getvalue()
    assert "CPU ms per order" in out.getvalue()
    assert product["webhook_ms"] > 0 and product["webhook_p99_ms"] > 0 and product["peak_rss_mb"] > 0
    assert product["first_ack_ms"] <= product["last_ack_s"] * 1000
    assert "vs floor" in out.getvalue() and "vs bare" in out.getvalue()
    # Copy quality as the product recorded it on each fill (issue 27): delay and price gap per run.
    quality = product["extra"]["copy_quality"]
    assert quality["delay_ms"]["count"] == 12 and quality["gap_bps"]["count"] == 12
    assert 0 <= quality["delay_ms"]["p50"] <= quality["delay_ms"]["p95"] <= quality["delay_ms"]["p99"] <= quality["delay_ms"]["max"]
    # the market only rose from the leader's fill on (20 bps a second): no copy bought cheaper
    assert product["extra"]["price_drift_bps_per_s"] == 20
    assert 0 <= quality["gap_bps"]["p50"] <= quality["gap_bps"]["max"]
    assert "delay p50/p95/p99/max" in out.getvalue() and "price gap p50/p95/p99/max" in out.getvalue()
    # A follower's delay from its leader trade's recording (issue 31), over both leaders' copies,
    # and per leader: each leader trade's 6 copies, how evenly the two were served.
    delay = product["extra"]["delay_ms"]
    assert delay["count"] == 12 and 0 < delay["p50"] <= delay["p95"] <= delay["p99"] <= delay["max"] <= product["last_ack_s"] * 1000
    leaders = product["extra"]["leaders"]
    assert product["leaders"] == 2 and [leader["delay_ms"]["count"] for leader in leaders] == [6, 6]
    # the product's own delay counts from the leader trade's traded_at, which precedes its row's creation
    assert all(leader["recorded_after_traded_ms"] >= 0 for leader in leaders)
    assert quality["delay_ms"]["max"] >= delay["max"] - 1
    fair = product["extra"]["leader_fairness"]
    assert fair["p50_spread_ms"] == fair["p50_max_ms"] - fair["p50_min_ms"] >= 0
    assert 0 <= fair["mean_place_min"] <= fair["mean_place_max"] <= 1
    assert product["setup_s"] is not None
    # Peak memory of each process and PostgreSQL connections in use, per run.
    resources = product["resources"]
    assert {"execution worker 1", "fan-out worker", "web", "simulator", "bench"} <= set(resources["rss_mb"])
    assert all(mb > 0 for mb in resources["rss_mb"].values()), resources
    assert resources["rss_total_mb"] >= max(resources["rss_mb"].values())
    # (12 orders may run between two samples: none seen working is possible, none open is not)
    assert resources["pg_connections"]["peak"] >= max(resources["pg_connections"]["peak_active"], 1)
    assert "follower delay, ms" in out.getvalue() and "2 leaders at once, N=12 0 ms" in out.getvalue()
    assert "peak RSS MB per process" in out.getvalue()
    # Every follower of the product path has its order; nothing is left executing.
    assert not CopiedTrade.objects.exclude(status__in=CopiedTrade.TERMINAL).exists()
    # The Binance leader's trade reached all 12 followers, 6 on each exchange (issue 29), once each.
    by_exchange = product["extra"]["by_exchange"]
    assert set(by_exchange) == {"binance", "bybit"}
    for figures in by_exchange.values():
        assert (figures["followers"], figures["orders"], figures["duplicates"], figures["missing"]) == (6, 6, 0, 0)
        assert figures["statuses"] == {"filled": 6}
        assert 0 <= figures["p50_ms"] <= figures["p95_ms"]
    summary = {entry["path"]: entry for entry in report["summary"]}
    assert summary["product"]["by_exchange"]["bybit"]["orders"] == 6
    assert summary["product"]["resources"]["pg_connections"]["max"] >= 1
    text = out.getvalue()
    assert "6 of them on Bybit, 6 on Binance" in text and "run on the Binance ones only" in text
    assert "per exchange, product N=12 0 ms: binance: 6 orders of 6 followers" in text and "bybit: 6 orders of 6 followers" in text
    # Bybit's accounts were filled at Bybit's lot size (0.0001 BTC), Binance's at 0.00001.
    amounts = {row["copy__exchange_account__exchange_id"]: row["filled_amount"] for row in _product_fills(product)}
    assert amounts["bybit"] % Decimal("0.0001") == 0 and amounts["binance"] % Decimal("0.00001") == 0


def test_a_share_of_followers_on_bybit_is_spread_among_the_binance_ones():
    from devtools.bench import follower_exchanges

    assert follower_exchanges(followers=6, bybit_share=0.5) == ["binance", "bybit"] * 3
    assert follower_exchanges(followers=4, bybit_share=0.25).count("bybit") == 1
    assert set(follower_exchanges(followers=5, bybit_share=0)) == {"binance"}
    assert set(follower_exchanges(followers=5, bybit_share=1)) == {"bybit"}
    with pytest.raises(ValueError):
        follower_exchanges(followers=5, bybit_share=1.5)


def test_a_bybit_share_leaving_no_binance_follower_for_the_baselines_is_refused():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no Binance followers"):
        call_command("bench_fanout", followers=[3], bybit_share=1, stdout=StringIO())


def _product_fills(product: dict) -> list[dict]:
    return list(
        CopiedTrade.objects.filter(leader_trade__external_id__startswith="bench-", status="filled")
        .exclude(client_order_id__startswith="fl")
        .values("copy__exchange_account__exchange_id", "filled_amount")
    )


def test_the_fairness_figures_tell_a_fixed_order_from_a_rotating_one():
    from devtools.bench import ack_places, fairness

    def run(order: list[int]) -> dict:
        acked = [{"id": index, "ack_time": 100.0 + index, "client_order_id": f"c{copy_id}"} for index, copy_id in enumerate(order)]
        return {"extra": {"ack_place": ack_places(acked, copy_of={f"c{copy_id}": copy_id for copy_id in order})}}

    fixed = fairness([run([1, 2, 3, 4, 5]) for _ in range(4)])
    rotating = fairness([run([1, 2, 3, 4, 5]), run([3, 4, 5, 1, 2]), run([5, 1, 2, 3, 4]), run([2, 3, 4, 5, 1])])
    assert (fixed["mean_place_min"], fixed["mean_place_max"]) == (0.0, 1.0)
    assert rotating["mean_place_max"] - rotating["mean_place_min"] < 0.5
    assert rotating["mean_place_sd"] < fixed["mean_place_sd"]
    assert fairness([run([1, 2, 3])]) is None  # one leader trade says nothing about fairness


def test_leader_fairness_tells_leaders_served_in_turn_from_interleaved_ones():
    from devtools.bench import leader_fairness

    def leader(p50: float, place: float) -> dict:
        return {"delay_ms": {"p50": p50, "p99": p50 * 2}, "mean_place": place}

    in_turn = leader_fairness([leader(100, 0.25), leader(300, 0.75)])
    interleaved = leader_fairness([leader(200, 0.49), leader(210, 0.51)])
    assert (in_turn["p50_spread_ms"], in_turn["mean_place_min"], in_turn["mean_place_max"]) == (200, 0.25, 0.75)
    assert interleaved["p50_spread_ms"] == 10 and interleaved["p99_spread_ms"] == 20
    assert leader_fairness([leader(100, 0.5)]) is None  # one leader: nothing to compare


def test_the_bench_waits_out_the_ticker_cache_before_the_next_run(settings):
    """A drifting run's last cached price must not price the next run's leader trade (the
    negative price gaps of bench/RESULTS.md): the wait ends when Redis has expired the entry."""
    import time

    import redis

    from devtools.bench import ticker_cache_wait_out
    from devtools.processes import ProcessFailed

    client = redis.Redis.from_url(settings.REDIS_URL)
    key = "exchanges:ticker:binance:bench-test:BTC/USDT"
    client.set(key, "65133.48", px=300)
    started = time.monotonic()
    ticker_cache_wait_out(timeout=5)
    assert client.get(key) is None and time.monotonic() - started >= 0.2
    client.set(key, "65133.48")  # never expires: the wait gives up
    try:
        with pytest.raises(ProcessFailed, match="ticker cache"):
            ticker_cache_wait_out(timeout=0.3)
    finally:
        client.delete(key)


def test_the_pair_table_gives_medians_with_their_spread_and_the_ratio_run_by_run():
    """`make bench-pair`'s table (what bench/RESULTS.md takes): product and bare orders/s as median
    (min–max), product/bare of the medians and of each repeat's pair, CPU per order."""
    from devtools.management.commands.bench_fanout import FIGURES, Command, summarise

    def run(path: str, orders_per_s: float, cpu: float) -> dict:
        figures = dict.fromkeys(FIGURES)
        figures["orders_per_s"] = orders_per_s
        return {
            **figures,
            "path": path,
            "followers": 3000,
            "latency_ms": 50,
            "duplicates": 0,
            "missing": 0,
            "extra": {"delay_ms": {"p50": 10.0, "p95": 20.0, "p99": 30.0, "max": 40.0, "count": 3000}},
            "cpu_ms_per_order": {"all": cpu, "postgres": cpu / 4},
            "resources": {"rss_mb": {"web": 300.0}, "rss_total_mb": 300.0, "pg_connections": {"peak": 40, "peak_active": 9, "samples": 5}},
        }

    # repeats in the order the bench runs them: product then bare, three times
    runs = [
        run("product", 200, 7),
        run("bare", 400, 4),
        run("product", 300, 6),
        run("bare", 300, 4),
        run("product", 250, 8),
        run("bare", 500, 5),
    ]
    summary = summarise(runs)
    product = next(entry for entry in summary if entry["path"] == "product")
    assert product["orders_per_s"] == {"median": 250, "min": 200, "max": 300}
    assert product["vs_bare"] == 250 / 400
    assert product["vs_bare_runs"] == {"median": 0.5, "min": 0.5, "max": 1.0}
    assert product["cpu_ms_per_order"]["all"] == 7 and product["resources"]["pg_connections"]["max"] == 40
    assert product["delay_ms"]["max"] == {"median": 40.0, "min": 40.0, "max": 40.0}
    out = StringIO()
    command = Command(stdout=out)
    command.print_pairs(summary)
    command.print_cpu(summary)
    command.print_delays(summary)
    text = out.getvalue()
    assert "| 3,000 | 50 ms | 3 | 250 (200–300) | 400 (300–500) | **0.62** | 0.50–1.00 | 7.00 | 4.00 |" in text, text
    assert "| product | 3,000 | 50 ms | 7.00 |" in text


BUSY = "import sys, time\nstarted = time.process_time()\nwhile time.process_time() - started < 0.5:\n    pass\n{then}"


@pytest.mark.django_db(transaction=True)
def test_the_cpu_meter_counts_the_bench_s_processes_and_its_database_s_backends_not_the_machine(tmp_path):
    """On a shared machine every process's CPU meant other sessions' workers and PostgreSQL
    backends in the bench's figure. Counted: this process's children and the backends of its
    database; not a process outside its tree, nor a backend of another database."""
    import subprocess
    import sys
    import time

    import psycopg2

    from devtools.bench import REDIS_SHARED, CpuMeter, _stat
    from devtools.processes import database_url

    done = tmp_path / "stranger-done"
    stranger_code = BUSY.format(then=f"open({str(done)!r}, 'w').close()")
    ours, theirs = psycopg2.connect(database_url()), psycopg2.connect(database_url().rsplit("/", 1)[0] + "/postgres")
    query = "SELECT count(*) FROM generate_series(1, 3000000)"
    try:
        with CpuMeter() as cpu:
            # a child (kept alive past the block: a process that exits between samples loses its last CPU)
            child = subprocess.Popen([sys.executable, "-c", BUSY.format(then="sys.stdin.read()")], stdin=subprocess.PIPE)
            # not the bench's: a process whose parent has exited (as another session's worker is)
            subprocess.run(["sh", "-c", f'{sys.executable} -c "$0" </dev/null >/dev/null 2>&1 &', stranger_code], check=True)
            for connection_ in (ours, theirs):
                with connection_.cursor() as cursor:
                    cursor.execute(query)
            deadline = time.monotonic() + 30
            while not done.exists() or (_stat(child.pid) or (0, 0))[1] * 1000 / os.sysconf("SC_CLK_TCK") < 490:
                assert time.monotonic() < deadline, "the busy processes did not finish"
                time.sleep(0.05)  # a polling interval, not a synchronisation
        backend_ms = {}
        for name, connection_ in (("ours", ours), ("theirs", theirs)):
            with connection_.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend_ms[name] = _stat(cursor.fetchone()[0])[1] * 1000 / os.sysconf("SC_CLK_TCK")
    finally:
        ours.close()
        theirs.close()
        child.communicate(b"")

    # the child's 0.5 s ("other": neither a worker, web nor simulator), not the stranger's as well
    assert 450 <= cpu.ms["other"] < 900, cpu.ms
    # this database's backend that ran the query, not the other database's that ran the same one
    assert backend_ms["theirs"] > 100
    assert backend_ms["ours"] * 0.8 <= cpu.ms["postgres"] < backend_ms["ours"] + backend_ms["theirs"] * 0.5, (cpu.ms, backend_ms)
    figures = cpu.per_order(1)
    assert REDIS_SHARED in figures and REDIS_SHARED not in cpu.ms  # beside "all", not in it
    assert figures["all"] == pytest.approx(sum(figures[group] for group in cpu.ms), abs=0.05)


@pytest.mark.django_db(transaction=True)
def test_each_run_starts_from_vacuumed_tables_as_autovacuum_would_leave_them():
    """This machine's PostgreSQL runs with autovacuum off: without a vacuum between runs, each
    run walked every earlier run's dead row versions, and a path's figures depended on its
    place in the sequence."""
    from django.db import connection

    from devtools.bench import tables_vacuum
    from devtools.processes import wait_until

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_reset_single_table_counters('copytrade_copiedtrade'::regclass)")
    tables_vacuum()

    def vacuumed() -> bool:
        with connection.cursor() as cursor:
            # the statistics collector reports with a lag: polled, with a deadline
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT vacuum_count, analyze_count FROM pg_stat_user_tables WHERE relname = 'copytrade_copiedtrade'")
            vacuum_count, analyze_count = cursor.fetchone()
        return vacuum_count >= 1 and analyze_count >= 1

    wait_until(vacuumed, timeout=20, what="the copied trades' table vacuumed and analysed")
