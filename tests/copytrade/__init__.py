"""Helpers shared by the copy-trading tests (plain functions; each test file has its own fixtures)."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import redis
from django.conf import settings

from copytrade.models import Strategy
from copytrade.services import leader_trades
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from copytrade.services.strategies import strategy_create
from devtools.simulator.client import SimulatorClient
from exchanges.gateways.ccxt_gateway import clear_caches
from exchanges.services import exchange_account_create


def record_fan_outs(monkeypatch) -> list[int]:
    """Replace the fan-out enqueue with a recorder: the ids of leader trades it was asked to fan out."""
    enqueued: list[int] = []
    monkeypatch.setattr(leader_trades.record, "_fan_out_enqueue", enqueued.append)
    return enqueued


def signal_only_strategy(owner, *, capital: str = "10000", public: bool = True, **extra) -> Strategy:
    return strategy_create(
        owner=owner, name=extra.pop("name", "Signals"), declared_capital=Decimal(capital), is_public_leader=public, **extra
    )


def simulator_account(simulator, user, *, label: str = "Binance", usdt: str = "10000"):
    """A real (simulated) Binance account of `user`, connected through the service."""
    credentials = simulator.create_account(balances={"USDT": usdt})
    return exchange_account_create(
        owner=user, exchange_id="binance", label=label, api_key=credentials["api_key"], api_secret=credentials["api_secret"]
    )


def paper_account(user, *, label: str = "Paper", usdt: str = "10000"):
    return exchange_account_create(owner=user, exchange_id="paper", label=label, starting_balance={"USDT": Decimal(usdt)})


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(strategy: Strategy, **fields) -> bytes:
    payload = {"strategy_id": strategy.pk, "external_id": "sig-1", "symbol": "BTC/USDT", "action": "buy", "timestamp": int(time.time())}
    payload.update(fields)
    return json.dumps({key: value for key, value in payload.items() if value is not None}).encode()


def post_webhook(client, body: bytes, *, secret: str | None = None, signature: str | None = None):
    headers = {}
    if signature is not None:
        headers["HTTP_X_SIGNATURE"] = signature
    elif secret is not None:
        headers["HTTP_X_SIGNATURE"] = sign(body, secret)
    return client.post("/webhook", data=body, content_type="application/json", **headers)


def market_moves_to(price: str, *, symbol: str = "BTC/USDT") -> None:
    """The simulated market trades at `price` from now on, and no process remembers the old one."""
    SimulatorClient(settings.EXCHANGE_URL_OVERRIDES["binance"]).set_price(symbol=symbol, price=price)
    clear_caches()
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("exchanges:ticker:*"):
        client.delete(key)


def submit(strategy: Strategy, external_id: str, action: str, *, price: str | None = "65000", **size):
    """A leader signal through the service, as the REST call and the webhook send it. With a
    price, the market moves there first: a trade is recorded at the market's price, and the
    leader declares that same price."""
    if price is not None:
        market_moves_to(price)
    signal = LeaderSignal(
        external_id=external_id,
        symbol="BTC/USDT",
        action=action,
        price=Decimal(price) if price is not None else None,
        **{name: Decimal(str(value)) for name, value in size.items()},
    )
    return leader_signal_submit(strategy_id=strategy.pk, signal=signal, source=Strategy.Source.API)
