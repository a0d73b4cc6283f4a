"""Developer machine: `make run`, `make demo`."""

from .base import *  # noqa: F401,F403
from .base import INSTALLED_APPS, STORAGES, env

DEBUG = env.bool("DEBUG", default=True)

# A developer machine trades against the loopback simulator (`make run` starts it on 8765),
# never against a real exchange by accident.
# One simulator process answers both Binance (/api/v3) and Bybit v5 (/v5).
EXCHANGE_URL_OVERRIDES = env.dict("EXCHANGE_URL_OVERRIDES", default={"binance": "http://127.0.0.1:8765", "bybit": "http://127.0.0.1:8765"})

# Prometheus on this machine scrapes without a token (docker compose's sets METRICS_TOKEN).
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])

# The simulator, the Stripe stand-in, the demo and the benchmark (their commands).
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]

# Static files straight from the apps' folders, no collectstatic needed (whitenoise).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # nothing collected here; whitenoise would warn about a missing folder
