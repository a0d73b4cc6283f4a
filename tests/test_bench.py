"""`make bench` in small: the benchmark's three paths run end to end against real
processes (simulator, web server, execution and fan-out workers) and report what the
issue asks for. The figures themselves live in bench/RESULTS.md, not in a timed test."""

import json
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
        followers=[12],
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
    # CPU per order of every process, by group: the workers and PostgreSQL did the work. The
    # simulator's share of 12 orders can be under one clock tick (10 ms) of /proc, so read 0.
    cpu = product["cpu_ms_per_order"]
    assert cpu["execution workers"] > 0 and cpu["postgres"] > 0 and cpu["simulator"] >= 0
    assert cpu["all"] >= sum(value for group, value in cpu.items() if group != "all") - 0.05
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
