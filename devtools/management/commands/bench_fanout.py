"""`make bench`: the fan-out benchmark (see devtools/bench.py for what each path measures)."""

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools import bench
from devtools.processes import ProcessFailed, celery_worker_process, database_url, simulator_process, web_process
from devtools.simulator.client import SimulatorClient
from exchanges.gateways.ccxt_gateway import clear_caches

RESULTS = Path(settings.BASE_DIR) / "bench" / "results" / "latest.json"
FIGURES = [
    "webhook_ms",
    "webhook_p99_ms",
    "enqueue_s",
    "first_ack_ms",
    "last_ack_s",
    "orders_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "peak_rss_mb",
    "sql_per_task",
]


class Command(BaseCommand):
    help = "Fan-out benchmark: product path, floor, bare floor and naive baseline against the loopback simulator."

    def add_arguments(self, parser):
        parser.add_argument("--followers", type=int, nargs="+", default=[1000, 10000])
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--latencies", type=int, nargs="+", default=[0, 50], help="Exchange latency (ms) per run.")
        parser.add_argument("--naive-followers", type=int, default=1000)
        parser.add_argument(
            "--paths", nargs="+", choices=["product", "floor", "bare", "naive"], default=["product", "floor", "bare", "naive"]
        )
        parser.add_argument("--workers", type=int, default=settings.CELERY_WORKER_PROCESSES, help="Worker processes.")
        parser.add_argument(
            "--fanout-worker",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="A worker process of its own for the fanout queue, as shipped (Procfile, docker-compose).",
        )
        parser.add_argument(
            "--price-drift-bps",
            type=float,
            default=0.0,
            help="The simulated price moves this many basis points per second during each product run (its copies' price "
            "gaps then grow with the fan-out's time).",
        )
        parser.add_argument(
            "--bybit-share",
            type=float,
            default=0.0,
            help="This share (0..1) of the followers trade on the simulator's Bybit v5 side; the product path is reported "
            "per exchange. The floor, bare and naive baselines place raw Binance orders: they run on the Binance followers only.",
        )
        parser.add_argument("--timeout", type=float, default=300.0, help="Give up on a run after this many seconds.")
        parser.add_argument("--json", action="store_true", help="Print the results as JSON too.")
        parser.add_argument("--output", default=str(RESULTS), help="Where to write the runs and the summary (JSON).")

    def handle(self, *args, **options):
        if not 0 <= options["bybit_share"] <= 1:
            raise CommandError("--bybit-share must be between 0 and 1")
        if options["bybit_share"] == 1 and set(options["paths"]) - {"product"}:
            raise CommandError("--bybit-share 1 leaves no Binance followers for the floor, bare and naive baselines: add --paths product")
        results: list[dict] = []
        with tempfile.NamedTemporaryFile("w+", prefix="copytrade-bench-", suffix=".log", delete=False) as log:
            try:
                for index, followers in enumerate(options["followers"]):
                    naive = options["naive_followers"] if index == 0 and "naive" in options["paths"] else 0
                    results += self.measure(followers=followers, naive_followers=min(naive, followers), options=options, log=log)
            except (ProcessFailed, RuntimeError) as exc:
                raise CommandError(f"{exc} (process output: {log.name})") from exc
        summary = summarise(results)
        for run in results:  # a place per follower per run: summarised as fairness, not kept
            run["extra"].pop("ack_place", None)
        output = Path(options["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({"machine": machine(), "options": _jsonable(options), "runs": results, "summary": summary}, indent=2))
        self.print_summary(summary)
        self.stdout.write(f"raw runs: {output}; process output: {log.name}")
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))

    def step(self, text: str) -> None:
        self.stdout.write(self.style.SUCCESS("==> ") + text)
        self.stdout.flush()

    def measure(self, *, followers: int, naive_followers: int, options: dict, log) -> list[dict]:
        bench.bench_reset()
        results = []
        with simulator_process(log=log) as simulator_url:
            # The shipped processes run with DEBUG off (config.settings.production): with it on,
            # Django keeps every query of every thread in memory and formats each for the log.
            overrides = {
                # One simulator process serves both exchanges (Binance under /api, Bybit under /v5).
                "EXCHANGE_URL_OVERRIDES": f"binance={simulator_url},bybit={simulator_url}",
                "DEBUG": "false",
                "DATABASE_URL": database_url(),
                # Every order still takes its tokens, but the exchange-wide bucket (Binance's
                # per-IP 6,000 orders a minute) is lifted: the loopback simulator is not
                # Binance's IP. With it, 10,000 followers on one IP are paced at 100 orders/s
                # after a burst of 6,000, whatever the engine does (bench/RESULTS.md).
                # Every order is placed: a 10,000-follower fan-out takes about 50 s here, and
                # entries past the 60 s default would be skipped "too late" (copytrade/lateness.py),
                # making the product path look faster by placing fewer orders.
                "COPY_MAX_ENTRY_DELAY_SECONDS": "3600",
                # Bybit's per-IP bucket is lifted for the same reason; its per-account one stays.
                "EXCHANGE_RATE_LIMITS_JSON": json.dumps(
                    {exchange: {**settings.EXCHANGE_RATE_LIMITS[exchange], "exchange": [10**9, 60.0]} for exchange in ("binance", "bybit")}
                ),
            }
            settings.EXCHANGE_URL_OVERRIDES = {**settings.EXCHANGE_URL_OVERRIDES, "binance": simulator_url, "bybit": simulator_url}
            clear_caches()
            simulator = SimulatorClient(simulator_url)
            self.step(f"{followers} followers: creating accounts on the simulator")
            population = bench.population_create(simulator=simulator, followers=followers, bybit_share=options["bybit_share"])
            if options["bybit_share"]:
                on_bybit = population.exchange_ids.count("bybit")
                self.step(
                    f"{on_bybit} of them on Bybit, {followers - on_bybit} on Binance; the floor, bare and naive baselines "
                    "run on the Binance ones only (raw Binance orders)"
                )
            naive_ids = bench.naive_population_create(population=population, count=naive_followers) if naive_followers else []
            with (
                web_process(env=overrides, log=log) as web_url,
                _workers(options["workers"], overrides, log, fanout_worker=options["fanout_worker"]) as pids,
            ):
                probe_strategies = bench.warm_up(web_url=web_url, simulator=simulator)
                bench.warm_up_workers(simulator=simulator, population=population, worker_pids=pids, timeout=options["timeout"])
                for latency in options["latencies"]:
                    simulator.set_faults(latency_ms=latency)
                    for repeat in range(options["repeat"]):
                        for path in [p for p in ("product", "floor", "bare") if p in options["paths"]]:
                            with bench.CpuMeter() as cpu:
                                result = self.run_path(
                                    path,
                                    web_url=web_url,
                                    simulator=simulator,
                                    population=population,
                                    latency=latency,
                                    pids=pids,
                                    timeout=options["timeout"],
                                    probe_strategies=probe_strategies,
                                    price_drift_bps=options["price_drift_bps"],
                                )
                            result.cpu_ms_per_order = cpu.per_order(result.orders)
                            results.append(bench.as_dict(result))
                            self.step(_line(result, repeat))
                    if naive_ids:
                        result = bench.run_naive(web_url=web_url, simulator=simulator, strategy_ids=naive_ids, latency_ms=latency)
                        results.append(bench.as_dict(result))
                        self.step(_line(result, 0))
                simulator.set_faults(latency_ms=0)
                sql = bench.sql_statements_per_task(simulator=simulator, population=population)
                for result in results:
                    result["sql_per_task"] = sql.get(result["path"])
        return results

    def run_path(
        self, path: str, *, web_url, simulator, population, latency: int, pids: list[int], timeout: float, probe_strategies, price_drift_bps
    ):
        if path == "product":
            return bench.run_product(
                web_url=web_url,
                simulator=simulator,
                population=population,
                latency_ms=latency,
                worker_pids=pids,
                timeout=timeout,
                probe_strategies=probe_strategies,
                price_drift_bps=price_drift_bps,
            )
        run = bench.run_bare if path == "bare" else bench.run_floor
        return run(simulator=simulator, population=population, latency_ms=latency, worker_pids=pids, timeout=timeout)

    def print_summary(self, summary: list[dict]) -> None:
        headers = ["path", "N", "lat", *FIGURES, "dup", "miss", "vs floor", "vs bare", "vs naive"]
        rows = []
        for entry in summary:
            rows.append(
                [entry["path"], entry["followers"], entry["latency_ms"]]
                + [_fmt(entry[name]) for name in FIGURES]
                + [
                    entry["duplicates"],
                    entry["missing"],
                    _ratio(entry.get("vs_floor")),
                    _ratio(entry.get("vs_bare")),
                    _ratio(entry.get("vs_naive")),
                ]
            )
        cells = [headers] + [[str(v) for v in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for index, row in enumerate(cells):
            self.stdout.write("  ".join(value.rjust(width) for value, width in zip(row, widths)))
            if index == 0:
                self.stdout.write("  ".join("-" * width for width in widths))
        for entry in summary:
            if len(entry.get("by_exchange") or {}) > 1:
                self.stdout.write(
                    f"per exchange, product N={entry['followers']} {entry['latency_ms']} ms: {_exchanges(entry['by_exchange'])}"
                )
        for entry in summary:
            quality = entry.get("copy_quality")
            if quality:
                self.stdout.write(
                    f"copy quality, product N={entry['followers']} {entry['latency_ms']} ms: {_quality(quality)} (median over runs)"
                )
        for entry in summary:
            fair = entry.get("fairness")
            if fair:
                self.stdout.write(
                    f"fairness, product N={entry['followers']} {entry['latency_ms']} ms: over {fair['leader_trades']} leader trades each "
                    f"follower's mean place in the exchange's order is {fair['mean_place_min']:.2f} to {fair['mean_place_max']:.2f} "
                    f"(0 first, 1 last; sd {fair['mean_place_sd']:.3f})"
                )


class _workers:
    """`count` worker processes with the shipped settings; yields their pids. With
    `fanout_worker`, one more process serves only the `fanout` queue and the others the rest."""

    def __init__(self, count: int, env: dict, log, *, fanout_worker: bool = False):
        self.count, self.env, self.log, self.managers, self.fanout_worker = count, env, log, [], fanout_worker

    def __enter__(self) -> list[int]:
        pids = []
        rest = "execution,default,metrics,billing" if self.fanout_worker else None
        try:
            specs = [({"queues": rest} if rest else {}, f"bench{index}") for index in range(self.count)]
            if self.fanout_worker:
                specs.append(({"queues": "fanout", "concurrency": 2}, "benchfanout"))
            for extra, name in specs:
                manager = celery_worker_process(env=self.env, include="devtools.bench", name=name, log=self.log, **extra)
                pids.append(manager.__enter__().pid)
                self.managers.append(manager)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return pids

    def __exit__(self, *exc):
        while self.managers:
            self.managers.pop().__exit__(None, None, None)


def summarise(results: list[dict]) -> list[dict]:
    """Median (min–max) of each figure per (path, followers, latency), with the ratios of
    orders per second: product / floor and product / naive (same latency)."""
    groups: dict[tuple, list[dict]] = {}
    for run in results:
        groups.setdefault((run["path"], run["followers"], run["latency_ms"]), []).append(run)
    summary = []
    for (path, followers, latency), runs in groups.items():
        entry = {"path": path, "followers": followers, "latency_ms": latency, "repeats": len(runs)}
        for name in FIGURES:
            values = [run[name] for run in runs if run[name] is not None]
            entry[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else None
        entry["duplicates"] = sum(run["duplicates"] for run in runs)
        entry["missing"] = sum(run["missing"] for run in runs)
        entry["by_exchange"] = _by_exchange_summary(runs)
        if path == "product":
            entry["fairness"] = bench.fairness(runs)
            entry["copy_quality"] = _copy_quality_summary(runs)
        summary.append(entry)
    by_key = {(e["path"], e["followers"], e["latency_ms"]): e for e in summary}
    naive = {e["latency_ms"]: e for e in summary if e["path"] == "naive"}
    for entry in summary:
        if entry["path"] != "product" or not entry["orders_per_s"]:
            continue
        for baseline in ("floor", "bare"):
            other = by_key.get((baseline, entry["followers"], entry["latency_ms"]))
            if other and other["orders_per_s"]:
                entry[f"vs_{baseline}"] = entry["orders_per_s"]["median"] / other["orders_per_s"]["median"]
        if entry["latency_ms"] in naive and naive[entry["latency_ms"]]["orders_per_s"]:
            entry["vs_naive"] = entry["orders_per_s"]["median"] / naive[entry["latency_ms"]]["orders_per_s"]["median"]
    return summary


def machine() -> dict:
    import os

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _line(result, repeat: int) -> str:
    return (
        f"{result.path:7} N={result.followers} {result.latency_ms} ms #{repeat + 1}: {result.orders} orders, "
        f"last ack {_fmt(result.last_ack_s)} s, {_fmt(result.orders_per_s)} orders/s, p99 {_fmt(result.p99_ms)} ms, "
        f"webhook {_fmt(result.webhook_ms)} ms, dup {result.duplicates}, missing {result.missing}"
        + (f"; CPU ms per order {_cpu(result.cpu_ms_per_order)}" if result.cpu_ms_per_order else "")
        + (f"; {_quality(result.extra['copy_quality'])}" if result.extra.get("copy_quality") else "")
        + (f"; {_exchanges(result.extra['by_exchange'])}" if len(result.extra.get("by_exchange") or {}) > 1 else "")
    )


def _by_exchange_summary(runs: list[dict]) -> dict:
    """Per exchange over runs: orders, duplicates and missing summed, the delay p50/p95 (ms, from
    the leader trade recorded to the exchange's acknowledgement) as the median over runs."""
    found: dict[str, dict] = {}
    for run in runs:
        for exchange, figures in (run["extra"].get("by_exchange") or {}).items():
            entry = found.setdefault(
                exchange, {"followers": figures["followers"], "orders": 0, "duplicates": 0, "missing": 0, "p50": [], "p95": []}
            )
            for name in ("orders", "duplicates", "missing"):
                entry[name] += figures[name]
            for name in ("p50", "p95"):
                if figures[f"{name}_ms"] is not None:
                    entry[name].append(figures[f"{name}_ms"])
    return {
        exchange: {
            **{name: entry[name] for name in ("followers", "orders", "duplicates", "missing")},
            "p50_ms": statistics.median(entry["p50"]) if entry["p50"] else None,
            "p95_ms": statistics.median(entry["p95"]) if entry["p95"] else None,
        }
        for exchange, entry in found.items()
    }


def _exchanges(by_exchange: dict) -> str:
    """The product path's figures per exchange in one line."""
    return "; ".join(
        f"{exchange}: {figures['orders']} orders of {figures['followers']} followers, dup {figures['duplicates']}, "
        f"missing {figures['missing']}, delay p50/p95 {_fmt(figures['p50_ms'])}/{_fmt(figures['p95_ms'])} ms"
        for exchange, figures in by_exchange.items()
    )


def _copy_quality_summary(runs: list[dict]) -> dict | None:
    """The median over runs of each delay and price-gap figure (copytrade/quality.py) of the product path."""
    found = {}
    for figure in ("delay_ms", "gap_bps"):
        per_run = [run["extra"]["copy_quality"][figure] for run in runs if (run["extra"].get("copy_quality") or {}).get(figure)]
        if per_run:
            found[figure] = {key: statistics.median(figures[key] for figures in per_run) for key in ("p50", "p95", "p99", "max", "count")}
    return found or None


def _quality(quality: dict) -> str:
    """The copy-quality figures in one line: delay p50/p95/p99/max in ms, then the price gap's in bps."""
    parts = []
    for figure, name, unit in (("delay_ms", "delay", "ms"), ("gap_bps", "price gap", "bps")):
        figures = quality.get(figure)
        if figures:
            values = "/".join(_fmt(figures[key]) for key in ("p50", "p95", "p99", "max"))
            parts.append(f"{name} p50/p95/p99/max {values} {unit}")
    return ", ".join(parts) or "no fill measured"


def _cpu(figures: dict) -> str:
    parts = [f"{group} {figures[group]:.2f}" for group in bench.CPU_GROUPS if figures.get(group)]
    return f"{figures['all']:.2f} all ({', '.join(parts)})"


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return f"{value['median']:.4g} ({value['min']:.3g}–{value['max']:.3g})"
    return f"{value:.4g}"


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _jsonable(options: dict) -> dict:
    return {key: value for key, value in options.items() if isinstance(value, int | float | str | list | bool | None)}
