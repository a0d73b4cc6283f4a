# ruff: noqa
"""Three market lookups (what one order does) on a gateway of the population's first
account, in process: CPU per order. After prof.py setup. usage: market_mb.py"""

import json, os, sys, time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DEBUG", "false")
import django

django.setup()
from copytrade.models import Copy
from exchanges.gateways import gateway_for_account

pop = json.load(open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "perf3-population.json")))
from django.conf import settings

settings.EXCHANGE_URL_OVERRIDES = {**settings.EXCHANGE_URL_OVERRIDES, "binance": pop["url"], "bybit": pop["url"]}
acc = Copy.objects.select_related("exchange_account").get(pk=pop["rels"][0]).exchange_account
gw = gateway_for_account(acc)
gw.market("BTC/USDT")
n = 20000
c0 = time.process_time()
for _ in range(n):
    gw.market("BTC/USDT")
    gw.market("BTC/USDT")
    gw.market("BTC/USDT")
c1 = time.process_time()
print(
    json.dumps(
        {"dir": os.path.basename(os.getcwd()), "markets": len(gw.markets()), "three_market_lookups_us": round((c1 - c0) * 1e6 / n, 1)}
    )
)
