# ruff: noqa
"""The fill-notice passes alone, in process (bench/RESULTS.md, Performance III): one leader
trade with N copied trades, filled a third at a time, a pass (`leader_trade_fills_notify`)
after each third and one more once all are told (the task's rerun). Per pass: this
process's CPU (time.process_time), its PostgreSQL backend's CPU (/proc), the statements and
the rows they returned or wrote (cursor.rowcount). Medians over --repeat leader trades,
after one warm-up. From the repository root whose code is to be measured, against a
database of its own (the population is made here, no simulator; nothing is mailed: the
kind's email is off by default):

usage: DATABASE_URL=postgres://127.0.0.1:5432/bench_notices notices_mb.py setup N
       DATABASE_URL=... notices_mb.py run N [--repeat R] [--label x]
"""

import json, os, statistics, sys, time, uuid

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DEBUG", "false")
import django

django.setup()
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from copytrade.models import CopiedTrade, Copy, LeaderTrade, Strategy
from copytrade.services.fill_notices import leader_trade_fills_notify
from exchanges.models import ExchangeAccount

PREFIX = "notices-mb-"
cmd, n = sys.argv[1], int(sys.argv[2])
User = get_user_model()

if cmd == "setup":
    leader = User.objects.create_user(username=f"{PREFIX}leader")
    strategy = Strategy.objects.create(owner=leader, name="Notice bench", kind=Strategy.Kind.AI, declared_capital=Decimal("100000"))
    users = User.objects.bulk_create(
        [User(username=f"{PREFIX}f{i:05d}", email=f"f{i}@example.com", password="!") for i in range(n)], batch_size=2000
    )
    accounts = ExchangeAccount.objects.bulk_create(
        [
            ExchangeAccount(owner=u, exchange_id="binance", label="bench", api_key=uuid.uuid4().hex * 2, api_secret=uuid.uuid4().hex * 2)
            for u in users
        ],
        batch_size=2000,
    )
    now = timezone.now()
    Copy.objects.bulk_create(
        [
            Copy(
                follower=u,
                strategy=strategy,
                exchange_account=a,
                allocation_percent=Decimal("1"),
                copy_capital=Decimal("1000"),
                copy_equity=Decimal("1000"),
                peak_equity=Decimal("1000"),
                started_at=now,
            )
            for u, a in zip(users, accounts)
        ],
        batch_size=2000,
    )
    sys.exit()

repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
label = sys.argv[sys.argv.index("--label") + 1] if "--label" in sys.argv else ""
strategy = Strategy.objects.get(name="Notice bench", owner__username=f"{PREFIX}leader")
copies = list(Copy.objects.filter(strategy=strategy).order_by("id").values_list("id", "follower_id")[:n])
assert len(copies) == n, "run setup with at least N followers first"

with connection.cursor() as c:
    c.execute("select pg_backend_pid()")
    pid = c.fetchone()[0]
tck = os.sysconf("SC_CLK_TCK")


def pg_cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck


class Counter:
    def __init__(self):
        self.statements = self.rows = 0

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        self.statements += 1
        self.rows += max(context["cursor"].rowcount, 0)
        return result


def leader_trade():
    with transaction.atomic():
        s = Strategy.objects.select_for_update().get(pk=strategy.pk)
        s.last_sequence += 1
        s.save(update_fields=["last_sequence"])
    now = timezone.now()
    lt = LeaderTrade.objects.create(
        strategy=s,
        external_id=f"{PREFIX}{uuid.uuid4().hex[:12]}",
        sequence=s.last_sequence,
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal("0.1"),
        price=Decimal("65000"),
        notional=Decimal("6500"),
        leader_equity=Decimal("100000"),
        effect=LeaderTrade.Effect.INCREASE,
        position_after=Decimal("0.1"),
        source=Strategy.Source.API,
        traded_at=now,
        fanout_done_at=now,
    )
    CopiedTrade.objects.bulk_create(
        [
            CopiedTrade(
                copy_id=cid,
                leader_trade=lt,
                sequence=lt.sequence,
                follower_id=fid,
                leader_user_id=strategy.owner_id,
                strategy_id=strategy.pk,
                symbol="BTC/USDT",
                side="buy",
                effect="increase",
                follower_size_quote=Decimal("100"),
                requested_amount=Decimal("0.0015"),
                client_order_id=str(uuid.uuid4()),
                status=CopiedTrade.Status.PENDING,
            )
            for cid, fid in copies
        ],
        batch_size=2000,
    )
    return lt, list(CopiedTrade.objects.filter(leader_trade=lt).order_by("id").values_list("id", flat=True))


def one_sequence():
    lt, ids = leader_trade()
    thirds = [ids[: n // 3], ids[n // 3 : 2 * n // 3], ids[2 * n // 3 :]]
    passes = []
    for step, chunk in enumerate(thirds + [[]]):
        if chunk:
            CopiedTrade.objects.filter(id__in=chunk).update(
                status=CopiedTrade.Status.FILLED,
                filled_amount=Decimal("0.0015"),
                average_price=Decimal("65012.5"),
                fee=Decimal("0.0975"),
                quote_currency="USDT",
                finished_at=timezone.now(),
            )
        counter = Counter()
        with connection.execute_wrapper(counter):
            c0, p0 = time.process_time(), pg_cpu()
            more = leader_trade_fills_notify(leader_trade_id=lt.pk)
            c1, p1 = time.process_time(), pg_cpu()
        filled = sum(len(c) for c in thirds[: step + 1])
        passes.append(
            {
                "filled": filled,
                "more": more,
                "cpu_ms": (c1 - c0) * 1e3,
                "pg_cpu_ms": (p1 - p0) * 1e3,
                "statements": counter.statements,
                "rows": counter.rows,
            }
        )
    return passes


one_sequence()  # warm-up
runs = [one_sequence() for _ in range(repeat)]
summary = []
for i in range(len(runs[0])):
    row = {"filled": runs[0][i]["filled"], "more": runs[0][i]["more"]}
    for key in ("cpu_ms", "pg_cpu_ms", "statements", "rows"):
        values = [run[i][key] for run in runs]
        row[key] = round(statistics.median(values), 1)
        if key in ("cpu_ms", "pg_cpu_ms"):
            row[key + "_range"] = [round(min(values), 1), round(max(values), 1)]
    summary.append(row)
total = {key: round(sum(row[key] for row in summary), 1) for key in ("cpu_ms", "pg_cpu_ms", "statements", "rows")}
print(json.dumps({"label": label, "n": n, "repeat": repeat, "passes": summary, "total": total}))
