"""`make bench`: the fan-out benchmark (see devtools/bench.py for what each path measures)."""

import argparse
import json
import os
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
        parser.add_argument("--followers", type=int, nargs="+", default=[1000, 10000], help="Followers per leader, one population each.")
        parser.add_argument(
            "--leaders",
            type=int,
            default=1,
            help="Leader strategies, each with --followers copies of its own, their trades sent at once: delays per leader and "
            "overall, and how evenly the leaders' followers were served. The floor and bare baselines send one order to every "
            "follower of them all as one batch.",
        )
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
        parser.add_argument(
            "--probe",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="During each product run, a signal every 0.15 s for strategies nobody copies: the webhook's p99 under load. "
            "Its requests cost the web, the fan-out worker and PostgreSQL CPU that is not the run's orders' (about 0.5 ms per "
            "order at 3,000 followers), so `make bench-pair` leaves it out: both paths then carry only their orders.",
        )
        parser.add_argument("--timeout", type=float, default=300.0, help="Give up on a run after this many seconds.")
        parser.add_argument("--json", action="store_true", help="Print the results as JSON too.")
        parser.add_argument("--output", default=str(RESULTS), help="Where to write the runs and the summary (JSON).")

    def handle(self, *args, **options):
        if options["leaders"] < 1:
            raise CommandError("--leaders must be 1 or more")
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
            leaders = options["leaders"]
            shape = f"{leaders} leaders x {followers} followers" if leaders > 1 else f"{followers} followers"
            self.step(f"{shape}: creating accounts on the simulator")
            population = bench.population_create(
                simulator=simulator, followers=followers, bybit_share=options["bybit_share"], leaders=leaders
            )
            self.step(f"{shape}: set up in {population.setup_s} s (simulator accounts and rows)")
            if options["bybit_share"]:
                on_bybit = population.exchange_ids.count("bybit")
                self.step(
                    f"{on_bybit} of them on Bybit, {len(population.exchange_ids) - on_bybit} on Binance; the floor, bare and naive baselines "
                    "run on the Binance ones only (raw Binance orders)"
                )
            naive_ids = bench.naive_population_create(population=population, count=naive_followers) if naive_followers else []
            with (
                web_process(env=overrides, log=log) as web_url,
                _workers(options["workers"], overrides, log, fanout_worker=options["fanout_worker"]) as pids,
            ):
                roles = _roles(pids, fanout_worker=options["fanout_worker"], web_url=web_url, simulator_url=simulator_url)
                probe_strategies = bench.warm_up(web_url=web_url, simulator=simulator)
                if not options["probe"]:
                    probe_strategies = None
                bench.warm_up_workers(simulator=simulator, population=population, worker_pids=pids, timeout=options["timeout"])
                for latency in options["latencies"]:
                    simulator.set_faults(latency_ms=latency)
                    for repeat in range(options["repeat"]):
                        for path in [p for p in ("product", "floor", "bare") if p in options["paths"]]:
                            bench.tables_vacuum()
                            with bench.CpuMeter() as cpu, bench.ResourceMeter(roles) as resources:
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
                            result.resources = resources.figures()
                            result.leaders = leaders
                            result.setup_s = population.setup_s
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
        self.print_delays(summary)
        self.print_resources(summary)
        self.print_pairs(summary)
        self.print_cpu(summary)

    def print_delays(self, summary: list[dict]) -> None:
        """A follower's delay, from the leader trade's row created to the exchange's acknowledgement."""
        entries = [entry for entry in summary if entry.get("delay_ms") and entry["path"] == "product"]
        if not entries:
            return
        self.stdout.write(
            "\nfollower delay, ms: leader trade recorded (its row's created_at) -> the exchange's acknowledgement of the "
            "follower's order (the simulator's clock); median (min–max) over the runs"
        )
        self._table(
            ["path", "leaders", "followers", "lat", "runs", "p50", "p95", "p99", "max", "setup s"],
            [
                [entry["path"], entry["leaders"], entry["followers"], entry["latency_ms"], entry["repeats"]]
                + [_fmt(entry["delay_ms"][key]) for key in ("p50", "p95", "p99", "max")]
                + [_fmt(entry["setup_s"])]
                for entry in entries
            ],
        )
        for entry in entries:
            fair = entry.get("leader_fairness")
            if fair:
                self.stdout.write(
                    f"{entry['leaders']} leaders at once, N={entry['followers']} {entry['latency_ms']} ms: the leaders' delay p50s "
                    f"{fair['p50_min_ms']:.0f} to {fair['p50_max_ms']:.0f} ms (spread {fair['p50_spread_ms']:.0f}, p99 spread "
                    f"{fair['p99_spread_ms']:.0f}); each leader's followers' mean place among all orders {fair['mean_place_min']:.2f} "
                    f"to {fair['mean_place_max']:.2f} (0.5 each when interleaved evenly); medians over runs"
                )
                for leader in entry.get("per_leader") or []:
                    delays = leader["delay_ms"] or {}
                    self.stdout.write(
                        f"  leader {leader['leader'] + 1}: recorded {_fmt(leader['recorded_after_first_s'])} s after the first, "
                        f"delay p50/p95/p99/max {'/'.join(_fmt(delays.get(key)) for key in ('p50', 'p95', 'p99', 'max'))} ms, "
                        f"mean place {_fmt(leader['mean_place'])}"
                    )

    def print_resources(self, summary: list[dict]) -> None:
        """Peak RSS per process and PostgreSQL connections, per (path, N, latency)."""
        entries = [entry for entry in summary if entry.get("resources")]
        if not entries:
            return
        roles = list(dict.fromkeys(role for entry in entries for role in entry["resources"]["rss_mb"]))
        self.stdout.write(
            "\npeak RSS MB per process (with its children) and peak PostgreSQL connections (all / not idle); median (min–max)"
        )
        self._table(
            ["path", "N", "lat", *roles, "all", "PG conns", "PG active"],
            [
                [entry["path"], entry["followers"], entry["latency_ms"]]
                + [_fmt(entry["resources"]["rss_mb"].get(role)) for role in roles]
                + [_fmt(entry["resources"][name]) for name in ("rss_total_mb", "pg_connections", "pg_connections_active")]
                for entry in entries
            ],
        )

    def print_pairs(self, summary: list[dict]) -> None:
        """The product against the bare floor (issue 31's target: product >= 0.75 x bare), as RESULTS.md tabulates it."""
        entries = [entry for entry in summary if entry["path"] == "product" and entry.get("vs_bare") is not None]
        if not entries:
            return
        bare = {(e["followers"], e["latency_ms"]): e for e in summary if e["path"] == "bare"}
        self.stdout.write(
            "\nproduct / bare, orders per second: median (min–max) of the runs; the ratio of the medians, then the ratio "
            "run by run (each product run and the bare run after it); CPU ms per order of the bench's processes and its "
            "database's PostgreSQL backends (median; see below)\n"
        )
        self.stdout.write(
            "| N | exchange latency | runs | product orders/s | bare orders/s | product/bare | per run | CPU ms/order product | bare |"
        )
        self.stdout.write("|---|---|---|---|---|---|---|---|---|")
        for entry in entries:
            other = bare[(entry["followers"], entry["latency_ms"])]
            runs = entry.get("vs_bare_runs")
            per_run = f"{runs['min']:.2f}–{runs['max']:.2f}" if runs else "-"
            self.stdout.write(
                f"| {entry['followers']:,} | {entry['latency_ms']} ms | {entry['repeats']} | {_fmt(entry['orders_per_s'])} | "
                f"{_fmt(other['orders_per_s'])} | **{entry['vs_bare']:.2f}** | {per_run} | {_cpu_all(entry)} | {_cpu_all(other)} |"
            )

    def print_cpu(self, summary: list[dict]) -> None:
        """CPU ms per order by process group, every path (CpuMeter: what is counted)."""
        entries = [entry for entry in summary if entry.get("cpu_ms_per_order")]
        if not entries:
            return
        groups = [*bench.CPU_GROUPS, bench.REDIS_SHARED]
        self.stdout.write(f"\nCPU ms per order by process group (median of the runs). {bench.CPU_COUNTED}\n")
        self.stdout.write("| path | N | exchange latency | all | " + " | ".join(groups) + " |")
        self.stdout.write("|---" * (4 + len(groups)) + "|")
        for entry in entries:
            cpu = entry["cpu_ms_per_order"]
            self.stdout.write(
                f"| {entry['path']} | {entry['followers']:,} | {entry['latency_ms']} ms | {cpu.get('all', 0):.2f} | "
                + " | ".join(f"{cpu.get(group, 0):.2f}" for group in groups)
                + " |"
            )

    def _table(self, headers: list[str], rows: list[list]) -> None:
        cells = [headers] + [[str(value) for value in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for index, row in enumerate(cells):
            self.stdout.write("  ".join(value.rjust(width) for value, width in zip(row, widths)))
            if index == 0:
                self.stdout.write("  ".join("-" * width for width in widths))


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


def _roles(pids: list[int], *, fanout_worker: bool, web_url: str, simulator_url: str) -> dict[str, list[int]]:
    """The processes whose peak memory a run reports, by role (each with its children)."""
    execution = pids[:-1] if fanout_worker else pids
    roles = {f"execution worker {index + 1}": [pid] for index, pid in enumerate(execution)}
    if fanout_worker:
        roles["fan-out worker"] = [pids[-1]]
    roles["web"] = bench.pids_listening(web_url, "gunicorn")
    roles["simulator"] = bench.pids_listening(simulator_url, "exchange_simulator")
    roles["bench"] = [os.getpid()]  # counted alone: the processes above are its children
    return roles


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
        entry["leaders"] = runs[0].get("leaders", 1)
        entry["setup_s"] = runs[0].get("setup_s")
        entry["delay_ms"] = _delay_summary(runs)
        entry["cpu_ms_per_order"] = _median_by_key([run.get("cpu_ms_per_order") or {} for run in runs])
        entry["resources"] = _resources_summary(runs)
        if path == "product":
            entry["fairness"] = bench.fairness(runs)
            entry["copy_quality"] = _copy_quality_summary(runs)
            entry["leader_fairness"] = _median_by_key(
                [run["extra"]["leader_fairness"] for run in runs if run["extra"].get("leader_fairness")]
            )
            entry["per_leader"] = _per_leader_summary(runs)
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
                # the same ratio run by run (product and baseline of one repeat run back to back)
                pairs = zip(
                    groups[("product", entry["followers"], entry["latency_ms"])],
                    groups[(baseline, entry["followers"], entry["latency_ms"])],
                )
                ratios = [
                    mine["orders_per_s"] / theirs["orders_per_s"]
                    for mine, theirs in pairs
                    if mine["orders_per_s"] and theirs["orders_per_s"]
                ]
                if ratios:
                    entry[f"vs_{baseline}_runs"] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
        if entry["latency_ms"] in naive and naive[entry["latency_ms"]]["orders_per_s"]:
            entry["vs_naive"] = entry["orders_per_s"]["median"] / naive[entry["latency_ms"]]["orders_per_s"]["median"]
    return summary


def machine() -> dict:
    import os

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_counted": bench.CPU_COUNTED,
        "platform": platform.platform(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _line(result, repeat: int) -> str:
    return (
        f"{result.path:7} N={result.followers} {result.latency_ms} ms #{repeat + 1}: {result.orders} orders, "
        f"last ack {_fmt(result.last_ack_s)} s, {_fmt(result.orders_per_s)} orders/s, p99 {_fmt(result.p99_ms)} ms, "
        f"webhook {_fmt(result.webhook_ms)} ms, dup {result.duplicates}, missing {result.missing}"
        + (f"; CPU ms per order {_cpu(result.cpu_ms_per_order)}" if result.cpu_ms_per_order else "")
        + (f"; {_delay(result.extra['delay_ms'])}" if result.extra.get("delay_ms") else "")
        + (f"; {_memory(result.resources)}" if result.resources else "")
        + (f"; {_quality(result.extra['copy_quality'])}" if result.extra.get("copy_quality") else "")
        + (f"; {_exchanges(result.extra['by_exchange'])}" if len(result.extra.get("by_exchange") or {}) > 1 else "")
    )


def _median_by_key(dicts: list[dict]) -> dict | None:
    """The median over runs of each numeric figure of a flat dict."""
    keys = {key for figures in dicts for key, value in figures.items() if isinstance(value, int | float)}
    found = {key: statistics.median(figures[key] for figures in dicts if figures.get(key) is not None) for key in sorted(keys)}
    return found or None


def _spread(values: list) -> dict | None:
    values = [value for value in values if value is not None]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else None


def _delay_summary(runs: list[dict]) -> dict | None:
    """A follower's delay from its leader trade's recording to the exchange's acknowledgement
    (ms): each of p50/p95/p99/max as median (min–max) over the runs."""
    per_run = [run["extra"]["delay_ms"] for run in runs if run["extra"].get("delay_ms")]
    if not per_run:
        return None
    return {key: _spread([figures[key] for figures in per_run]) for key in ("p50", "p95", "p99", "max")}


def _resources_summary(runs: list[dict]) -> dict | None:
    """Peak RSS (MB) per process role and PostgreSQL connections: the median (min–max) over runs."""
    per_run = [run.get("resources") for run in runs if run.get("resources")]
    if not per_run:
        return None
    roles = list(dict.fromkeys(role for figures in per_run for role in figures["rss_mb"]))
    return {
        "rss_mb": {role: _spread([figures["rss_mb"].get(role) for figures in per_run]) for role in roles},
        "rss_total_mb": _spread([figures["rss_total_mb"] for figures in per_run]),
        "pg_connections": _spread([figures["pg_connections"]["peak"] for figures in per_run]),
        "pg_connections_active": _spread([figures["pg_connections"]["peak_active"] for figures in per_run]),
    }


def _per_leader_summary(runs: list[dict]) -> list[dict] | None:
    """With several leaders: each leader's delay p50/p95/p99/max and mean place, medians over runs."""
    per_run = [run["extra"].get("leaders") or [] for run in runs]
    if not per_run or len(per_run[0]) < 2:
        return None
    found = []
    for index in range(len(per_run[0])):
        leaders = [leaders[index] for leaders in per_run if len(leaders) > index and leaders[index]["delay_ms"]]
        found.append(
            {
                "leader": index,
                "delay_ms": {key: statistics.median(leader["delay_ms"][key] for leader in leaders) for key in ("p50", "p95", "p99", "max")}
                if leaders
                else None,
                "mean_place": statistics.median(leader["mean_place"] for leader in leaders) if leaders else None,
                "recorded_after_first_s": statistics.median(leader["recorded_after_first_s"] for leader in leaders) if leaders else None,
            }
        )
    return found


def _delay(figures: dict) -> str:
    return "delay from recording p50/p95/p99/max " + "/".join(_fmt(figures[key]) for key in ("p50", "p95", "p99", "max")) + " ms"


def _memory(resources: dict) -> str:
    connections = resources["pg_connections"]
    return (
        f"peak RSS MB {resources['rss_total_mb']:.0f} all ("
        + ", ".join(f"{role} {mb:.0f}" for role, mb in resources["rss_mb"].items())
        + f"), PostgreSQL connections peak {connections['peak']} ({connections['peak_active']} not idle)"
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


def _cpu_all(entry: dict) -> str:
    cpu = entry.get("cpu_ms_per_order") or {}
    return f"{cpu['all']:.2f}" if cpu.get("all") is not None else "-"


def _cpu(figures: dict) -> str:
    parts = [f"{group} {figures[group]:.2f}" for group in bench.CPU_GROUPS if figures.get(group)]
    shared = f"; {bench.REDIS_SHARED} {figures[bench.REDIS_SHARED]:.2f}, not in all" if bench.REDIS_SHARED in figures else ""
    return f"{figures['all']:.2f} all ({', '.join(parts)}{shared})"


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return f"{_num(value['median'])} ({_num(value['min'])}–{_num(value['max'])})"
    return _num(value)


def _num(value: float) -> str:
    """A figure as a reader takes it: whole above 100 (ms, MB), otherwise 4 significant digits."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _jsonable(options: dict) -> dict:
    return {key: value for key, value in options.items() if isinstance(value, int | float | str | list | bool | None)}
