"""Developer machine: `make run`, `make demo`."""

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)

# A developer machine trades against the loopback simulator (`make run` starts it on 8765),
# never against a real exchange by accident.
EXCHANGE_URL_OVERRIDES = env.dict("EXCHANGE_URL_OVERRIDES", default={"binance": "http://127.0.0.1:8765"})
