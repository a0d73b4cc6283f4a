# ruff: noqa
"""Settings for bench/perf3/mb.py: the shipped ones with MB_* overrides."""

import json, os
from config.settings.local import *  # noqa

for k, v in json.loads(os.environ.get("MB_SETTINGS", "{}")).items():
    globals()[k] = v
if os.environ.get("MB_QUIET_TRACE"):
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}
    LOGGING["loggers"]["celery.worker.strategy"] = {"level": "WARNING"}
if os.environ.get("MB_NO_HEALTH"):
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
