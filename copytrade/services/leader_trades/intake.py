"""Leader signals in: the signed webhook and the leader's REST call, each authenticated,
throttled, validated and checked against the replay window, then submitted.

Every source carries an idempotency key (`external_id`) under the (strategy, external_id)
unique constraint: the same signal twice is one leader trade and one fan-out. A signal's
market is resolved once, on the path it takes (the leader's own order, or the market's price
for a signal-only strategy), and passed on to the recording.
"""

import dataclasses
import hashlib
import hmac
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from copytrade.currency import market_conversion_check
from copytrade.models import Strategy
from copytrade.services.leader_trades.leader_order import leader_order_place_and_record
from copytrade.services.leader_trades.market import declared_price_check, exchange_call, market_gateway, signal_market_resolve
from copytrade.services.leader_trades.record import LeaderTradeOutcome, leader_trade_record, leader_trades_recorded
from copytrade.services.leader_trades.signal import LeaderSignal, leader_signal_parse, signal_time_parse
from core.errors import ApplicationError, ConflictError, NotFoundError, ThrottledError
from core.ids import ID_RULE, id_parse
from core.json import json_loads_bounded
from core.money import to_decimal, to_money
from core.ratelimit import rate_limit_take

SIGNATURE_PREFIX = "sha256="


def webhook_body_load(body: bytes) -> dict:
    """The JSON object of a webhook body. Numbers stay exact (Decimal); NaN/Infinity are refused."""
    try:
        payload = json_loads_bounded(body.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApplicationError(f"Malformed JSON body: {exc}") from None
    if not isinstance(payload, dict):
        raise ApplicationError("The webhook body must be a JSON object.")
    return payload


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def webhook_signature_verify(*, secret: str, body: bytes, signature_header: str | None) -> None:
    """`X-Signature: sha256=<hex HMAC-SHA256 of the raw body keyed by the strategy's secret>`."""
    if not signature_header or not signature_header.startswith(SIGNATURE_PREFIX):
        raise ApplicationError("Missing or malformed X-Signature header (expected sha256=<hex>).", status_code=401)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    received = signature_header[len(SIGNATURE_PREFIX) :].strip().lower()
    # Constant time: a byte-by-byte comparison would leak how much of a guess was right.
    if not hmac.compare_digest(expected.encode(), received.encode("ascii", "replace")):
        raise ApplicationError("Invalid webhook signature.", status_code=401)


def signal_time_check(*, sent_at: datetime, now: datetime) -> None:
    """The replay window, both ways: an old signed body cannot be replayed later, and a
    body dated in the future cannot be held back and replayed then."""
    window = timedelta(seconds=settings.WEBHOOK_MAX_AGE_SECONDS)
    if sent_at < now - window:
        raise ApplicationError(
            f"Stale timestamp: signals older than {settings.WEBHOOK_MAX_AGE_SECONDS} seconds are refused.", status_code=401
        )
    if sent_at > now + window:
        raise ApplicationError(f"Timestamp is more than {settings.WEBHOOK_MAX_AGE_SECONDS} seconds in the future.", status_code=401)


def webhook_signal_receive(*, body: bytes, signature_header: str | None, client: str) -> LeaderTradeOutcome:
    """A signed webhook body, end to end: parse, authenticate by the strategy's HMAC secret,
    throttle per strategy (signed requests only: a stranger cannot use up a leader's budget),
    validate, check the replay window, record (and with a leader account, execute).

    A request that does not authenticate (malformed, unknown strategy, bad signature) is
    counted against its `client` address instead ("webhook_unsigned"); an unknown strategy
    id gets the answer of a wrong signature, so ids cannot be probed. The replay window is
    checked after the body is validated: an old body that is also malformed is a 400.
    """
    try:
        payload = webhook_body_load(body)
        strategy = _webhook_strategy(payload.get("strategy_id"))
        webhook_signature_verify(
            secret=strategy.webhook_secret if strategy else _UNKNOWN_STRATEGY_SECRET, body=body, signature_header=signature_header
        )
        if strategy is None:
            raise ApplicationError("Invalid webhook signature.", status_code=401)
    except (ApplicationError, ValidationError):
        _unauthenticated_throttle(client=client)
        raise
    signals_throttle(strategy_id=strategy.pk)
    if payload.get("timestamp") is None:
        raise ValidationError({"timestamp": "This field is required."})
    signal = leader_signal_parse({**payload, "timestamp": None}, extra_fields=("strategy_id",))
    sent_at = signal_time_parse(payload["timestamp"])
    signal_time_check(sent_at=sent_at, now=timezone.now())
    return leader_signal_submit(
        strategy_id=strategy.pk, signal=dataclasses.replace(signal, sent_at=sent_at), source=Strategy.Source.WEBHOOK
    )


# An unknown strategy's signature is still computed (against this), so it takes as long to
# refuse as a wrong one.
_UNKNOWN_STRATEGY_SECRET = "no-such-strategy"


def _unauthenticated_throttle(*, client: str) -> None:
    wait = rate_limit_take(key=f"webhook-unsigned:{client}", rate=settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["webhook_unsigned"])
    if wait > 0:
        raise ThrottledError(wait)


def signals_throttle(*, strategy_id: int) -> None:
    """One signal against the strategy's budget ("webhook" rate), whichever way it came:
    an atomic token bucket, so parallel signals cannot all pass one check."""
    wait = rate_limit_take(key=f"signals:{strategy_id}", rate=settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["webhook"])
    if wait > 0:
        raise ThrottledError(wait)


def rest_signal_receive(*, strategy_id: int, payload) -> LeaderTradeOutcome:
    """The leader's REST signal (the caller checked the strategy is theirs): throttle per
    strategy, validate, check the replay window when a timestamp is sent, record."""
    signals_throttle(strategy_id=strategy_id)
    signal = leader_signal_parse(payload)
    if signal.sent_at is not None:
        signal_time_check(sent_at=signal.sent_at, now=timezone.now())
    return leader_signal_submit(strategy_id=strategy_id, signal=signal, source=Strategy.Source.API)


def _webhook_strategy(strategy_id) -> Strategy | None:
    parsed = id_parse(strategy_id)
    if parsed is None:
        raise ValidationError({"strategy_id": f"An id is required: {ID_RULE}."})
    return Strategy.objects.filter(id=parsed).only("id", "webhook_secret").first()


def leader_signal_submit(*, strategy_id: int, signal: LeaderSignal, source: str) -> LeaderTradeOutcome:
    """Turn a leader's signal into leader trade(s); with a leader account, execute it first."""
    strategy = Strategy.objects.select_related("leader_account").filter(id=strategy_id).first()
    if strategy is None:
        raise NotFoundError("Strategy not found.")
    existing = leader_trades_recorded(strategy_id=strategy.pk, external_id=signal.external_id)
    if existing:
        return LeaderTradeOutcome(trades=existing, created=False)
    if strategy.status != Strategy.Status.RUNNING:
        raise ConflictError(f"Strategy '{strategy.name}' is paused; resume it to send signals.")
    if strategy.source == Strategy.Source.EXCHANGE_SYNC:
        # Its fills arrive by sync; a signal as well would record the same trade twice.
        raise ConflictError("This strategy records its trades by exchange sync; it does not take signals.")
    if strategy.leader_account is None:
        return _signal_record_at_market(strategy=strategy, signal=signal, source=source)
    return leader_order_place_and_record(strategy=strategy, signal=signal, source=source)


def _signal_record_at_market(*, strategy: Strategy, signal: LeaderSignal, source: str) -> LeaderTradeOutcome:
    """A signal-only strategy's trade, at the market's price and time when the signal arrives
    (the price source paper accounts trade at). A leader who could date or price their own
    trades could pad a record followers pay for; what they declared is kept beside it."""
    gateway = market_gateway(strategy)
    with exchange_call(gateway.exchange_id, "the market price lookup"):
        resolved = signal_market_resolve(gateway=gateway, symbol=signal.symbol)
        market = resolved.market
        # Asked of the exchange now, not the ticker cache the copies size from: the record is
        # dated now, so its price is now's too (a cached one can be EXCHANGE_TICKER_CACHE_SECONDS old).
        market_price = to_money(to_decimal(gateway.ticker_price(market.symbol, fresh=True)))
    if signal.price is not None:
        declared_price_check(declared=signal.price, market_price=market_price, symbol=market.symbol)
    # The only time for this signal: a market whose P&L could not be billed is refused (400).
    market_conversion_check(market=market, markets=resolved.markets, exchange_id=gateway.exchange_id)
    return leader_trade_record(
        strategy=strategy,
        external_id=signal.external_id,
        symbol=market.symbol,
        side=signal.action,
        amount=signal.amount,
        position_size_usd=signal.position_size_usd,
        fraction=signal.fraction,
        price=market_price,
        declared_price=signal.price,
        leverage=signal.leverage,
        traded_at=timezone.now(),
        source=source,
        market=market,
        market_checked=True,
    )
