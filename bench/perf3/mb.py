# ruff: noqa
"""Celery per-task cost (bench/RESULTS.md, Performance III). Run from the repository root:
   DATABASE_URL=... REDIS_URL=redis://127.0.0.1:6379/<db> MB_SETTINGS='{"CELERY_...": ...}' python bench/perf3/mb.py <label> 2000
Other switches: MB_NO_HEALTH=1 (CONN_HEALTH_CHECKS off), MB_QUIET_TRACE=1, MB_ACKS_EARLY=1.
: N tasks that each run one SELECT, worker CPU per task."""

import json, os, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.getcwd())
sys.path.insert(0, HERE)
os.environ["DJANGO_SETTINGS_MODULE"] = "mb_settings"
import django

django.setup()
from celery import current_app as app
import redis
from devtools.processes import celery_worker_process
from devtools import bench

label, n = sys.argv[1], int(sys.argv[2])
r = redis.Redis.from_url(os.environ["REDIS_URL"])
env = {"DJANGO_SETTINGS_MODULE": "mb_settings", "PYTHONPATH": HERE, "DEBUG": "false"}
log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"celery-cost-{label}.log"), "w")
tck = os.sysconf("SC_CLK_TCK")


def cpu(pids):
    tot = 0
    for p in bench._tree(pids):
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            tot += int(f[11]) + int(f[12])
        except FileNotFoundError:
            pass
    return tot / tck


def pg_cpu():
    tot = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                s = open(f"/proc/{p}/cmdline").read()
                if "postgres:" in s and os.environ["DATABASE_URL"].rsplit("/", 1)[1] + " " in s:
                    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                    tot += int(f[11]) + int(f[12])
            except (FileNotFoundError, ProcessLookupError):
                pass
    return tot / tck


def redis_cpu():
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if open(f"/proc/{p}/comm").read().startswith("redis-server"):
                    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                    return (int(f[11]) + int(f[12])) / tck
            except FileNotFoundError:
                pass
    return 0


with celery_worker_process(env=env, queues="execution", include="mb_tasks", name="mb", log=log) as w:
    out = []
    for rep in range(3):
        for phase in ("warm", "measure"):
            count = 300 if phase == "warm" else n
            r.set("mb:done", 0)
            c0, p0, rd0, t0 = cpu([w.pid]), pg_cpu(), redis_cpu(), time.perf_counter()
            with app.producer_or_acquire() as producer:
                for i in range(count):
                    app.send_task("mb_tasks.mb_noop", args=(i,), queue="execution", producer=producer)
            while int(r.get("mb:done") or 0) < count:
                time.sleep(0.05)
            c1, p1, rd1, t1 = cpu([w.pid]), pg_cpu(), redis_cpu(), time.perf_counter()
        out.append(
            {"worker_ms": (c1 - c0) * 1000 / n, "pg_ms": (p1 - p0) * 1000 / n, "redis_ms": (rd1 - rd0) * 1000 / n, "tasks_s": n / (t1 - t0)}
        )
    med = lambda k: sorted(o[k] for o in out)[1]
    print(
        json.dumps(
            {"label": label, "n": n, **{k: round(med(k), 3) for k in out[0]}, "runs": [{k: round(v, 3) for k, v in o.items()} for o in out]}
        )
    )
