# ruff: noqa
"""In-process profile of copied_trade_execute (bench/RESULTS.md, Performance III). From the
repository root, with a simulator running (manage.py exchange_simulator --port P):

usage: prof.py setup N SIM_URL   -> population to $TMPDIR/perf3-population.json
       prof.py run N [--profile out.prof] [--label x]
"""

import json, os, sys, time, cProfile, pstats

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DEBUG", "false")
os.environ["COPY_MAX_ENTRY_DELAY_SECONDS"] = "3600"
import django

django.setup()
from decimal import Decimal
from django.conf import settings
from django.db import connection, reset_queries
from django.utils import timezone

POP = os.path.join(os.environ.get("TMPDIR", "/tmp"), "perf3-population.json")
cmd = sys.argv[1]
if cmd == "setup":
    n, url = int(sys.argv[2]), sys.argv[3]
    from devtools import bench
    from devtools.simulator.client import SimulatorClient

    settings.EXCHANGE_URL_OVERRIDES = {**settings.EXCHANGE_URL_OVERRIDES, "binance": url, "bybit": url}
    bench.bench_reset()
    pop = bench.population_create(simulator=SimulatorClient(url), followers=n)
    json.dump({"url": url, "strategy": pop.leader_strategy_id, "rels": pop.copy_ids}, open(POP, "w"))
    sys.exit()

pop = json.load(open(POP))
url = pop["url"]
settings.EXCHANGE_URL_OVERRIDES = {**settings.EXCHANGE_URL_OVERRIDES, "binance": url, "bybit": url}
settings.EXCHANGE_RATE_LIMITS = {e: {**settings.EXCHANGE_RATE_LIMITS[e], "exchange": [10**9, 60.0]} for e in ("binance", "bybit")}
settings.COPY_MAX_ENTRY_DELAY_SECONDS = 3600
from devtools import bench
from devtools.simulator.client import SimulatorClient
from copytrade.models import CopiedTrade, Copy
from copytrade.services import fanout
from copytrade.services.execution import copied_trade_execute

n = int(sys.argv[2])
prof_out = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
label = sys.argv[sys.argv.index("--label") + 1] if "--label" in sys.argv else ""


def make_rows(count):
    price = Decimal(SimulatorClient(url).prices()["BTCUSDT"])
    lt = bench._bare_leader_trade(strategy_id=pop["strategy"], price=price, amount=Decimal("0.1"), prefix="prof")
    rels = list(Copy.objects.filter(pk__in=pop["rels"][:count]).values_list("pk", "follower_id"))
    now = timezone.now()
    rows = [fanout._mirror_row(lt, rid, fid, now=now, place=i + 1) for i, (rid, fid) in enumerate(rels)]
    CopiedTrade.objects.bulk_create(rows)
    return list(CopiedTrade.objects.filter(leader_trade=lt).order_by("id").values_list("id", flat=True))


# warm-up: 100 orders (imports, prepared statements, pools)
for i in make_rows(100):
    copied_trade_execute(copied_trade_id=i)
ids = make_rows(n)
with connection.cursor() as c:
    c.execute("select pg_backend_pid()")
    pid = c.fetchone()[0]
tck = os.sysconf("SC_CLK_TCK")


def pg_cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck


_q = [0]


def _count(execute, sql, params, many, context):
    _q[0] += 1
    return execute(sql, params, many, context)


_wrap = connection.execute_wrapper(_count)
_wrap.__enter__()
pr = cProfile.Profile(time.process_time) if prof_out else None
c0, p0, w0 = time.process_time(), pg_cpu(), time.perf_counter()
if pr:
    pr.enable()
statuses = {}
for i in ids:
    o = copied_trade_execute(copied_trade_id=i)
    statuses[o.status] = statuses.get(o.status, 0) + 1
if pr:
    pr.disable()
c1, p1, w1 = time.process_time(), pg_cpu(), time.perf_counter()
q = _q[0]
print(
    json.dumps(
        {
            "label": label,
            "n": n,
            "task_cpu_ms": round((c1 - c0) * 1000 / n, 3),
            "pg_cpu_ms": round((p1 - p0) * 1000 / n, 3),
            "wall_ms": round((w1 - w0) * 1000 / n, 3),
            "sql_per_order": round(q / n, 2),
            "statuses": statuses,
            "profiled": bool(pr),
        }
    )
)
if pr:
    pr.dump_stats(prof_out)
