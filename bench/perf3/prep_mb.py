# ruff: noqa
"""The value preparation of the execution's writes (the submitted mark and the fill's three
statements), in process: CPU per order. After prof.py has left filled rows. usage: prep_mb.py"""

import json, os, sys, time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DEBUG", "false")
import django

django.setup()
from django.utils import timezone
from copytrade import execution_statements as st, rows
from copytrade.models import CopiedTrade

i = CopiedTrade.objects.filter(status="filled").order_by("-id").values_list("id", flat=True).first()
now = timezone.now()
trade, position, _ = st.load(i, token=None, now=now, lease_expires_at=now)
full = CopiedTrade.objects.get(pk=i)
for name in st.TRADE_FILL_FIELDS:
    setattr(trade, name, getattr(full, name))
trade.lease_expires_at = now
n = 5000
c0 = time.process_time()
for _ in range(n):
    rows.update_statement(position, st.POSITION_FILL_FIELDS)
    rows.update_statement(trade.copy, st.COPY_FILL_FIELDS)
    rows.update_statement(trade, st.TRADE_FILL_FIELDS)
    rows.update_statement(
        trade, ["status", "attempts", "lease_expires_at", "submitted_at", "side", "requested_amount", "follower_size_quote", "reason"]
    )
c1 = time.process_time()
print(json.dumps({"dir": os.path.basename(os.getcwd()), "prep_us_per_order": round((c1 - c0) * 1e6 / n, 1)}))
