# ruff: noqa
"""The execution's load statement alone, in process (bench/RESULTS.md, Performance III): the
CPU of this process and of its PostgreSQL backend per load, over N loads of rows `prof.py`
left filled (the pick-up mark matches nothing then; the SELECT is the execution's). From the
repository root whose code is to be measured, after `prof.py setup` and one `prof.py run`:

usage: load_mb.py N [--label x]
"""

import json, os, sys, time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DEBUG", "false")
import django

django.setup()
from django.db import connection
from django.utils import timezone

from copytrade import execution_statements as statements
from copytrade.models import CopiedTrade

n = int(sys.argv[1])
label = sys.argv[sys.argv.index("--label") + 1] if "--label" in sys.argv else ""
ids = list(CopiedTrade.objects.filter(status=CopiedTrade.Status.FILLED).order_by("-id").values_list("id", flat=True)[:1000])
with connection.cursor() as c:
    c.execute("select pg_backend_pid()")
    pid = c.fetchone()[0]
tck = os.sysconf("SC_CLK_TCK")


def pg_cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck


now = timezone.now()
for i in ids[:200]:  # warm-up: the prepared statement, caches
    statements.load(i, token=None, now=now, lease_expires_at=now)
c0, p0 = time.process_time(), pg_cpu()
for k in range(n):
    statements.load(ids[k % len(ids)], token=None, now=now, lease_expires_at=now)
c1, p1 = time.process_time(), pg_cpu()
print(json.dumps({"label": label, "n": n, "load_cpu_us": round((c1 - c0) * 1e6 / n, 1), "pg_cpu_us": round((p1 - p0) * 1e6 / n, 1)}))
