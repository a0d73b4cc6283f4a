"""Leader trades in: signed webhooks and the leader's REST calls (exchange sync records
through `leader_trade_record` too, see `exchange_sync`).

Every source carries an idempotency key (`external_id`, or the exchange trade id for
sync) under the (strategy, external_id) unique constraint: the same signal twice is one
leader trade and one fan-out. With a linked leader account the platform first places the
leader's market order and records the real fill; network calls (markets, equity, the
order) all happen before the recording transaction opens.
"""

import dataclasses
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from copytrade.client_order_ids import leader_client_order_id
from copytrade.currency import market_conversion_check
from copytrade.models import LeaderPosition, LeaderTrade, Strategy
from copytrade.positions import Fill, position_apply_fill
from copytrade.services.fanout import leader_trade_fan_out_send
from core.errors import ApplicationError, ConflictError, NotFoundError, ThrottledError
from core.ids import ID_RULE, id_parse
from core.json import json_loads_bounded
from core.locks import held_lock
from core.money import HUNDRED, MAX_MONEY, MAX_QUANTITY, ZERO, to_decimal, to_money, truncate
from core.ratelimit import rate_limit_take
from exchanges.errors import (
    DuplicateClientOrderIdError,
    ExchangeError,
    OrderNotFoundError,
    PermanentExchangeError,
    UnknownOutcomeError,
    UnknownSymbolError,
)
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount
from exchanges.symbols import resolve_symbol
from exchanges.types import MarketRules, OrderResult

logger = logging.getLogger(__name__)


BUY, SELL, CLOSE = "buy", "sell", "close"
ACTIONS = (BUY, SELL, CLOSE)
FLIP_SUFFIX = ":flip"
SIGNATURE_PREFIX = "sha256="

# A flip stores `<external_id>:flip` in the 100-character column.
MAX_EXTERNAL_ID_LENGTH = 100 - len(FLIP_SUFFIX)
QUANTITY_STEP = Decimal(1).scaleb(-settings.QUANTITY_DECIMAL_PLACES)
FRACTION_STEP = Decimal(1).scaleb(-18)

# Money columns hold this many integer digits; a larger notional cannot be recorded, so a
# leader order that big is refused before it is placed.
MAX_NOTIONAL = MAX_MONEY

# Longer than the exchange calls of one leader order can take; a crashed attempt's lock expires.
SIGNAL_LOCK_SECONDS = 120


@dataclass(frozen=True)
class LeaderSignal:
    """What a leader asks for. Exactly one of amount / position_size_usd / fraction, except a
    close, which needs none (it closes the whole position)."""

    external_id: str
    symbol: str
    action: str  # buy | sell | close
    amount: Decimal | None = None
    position_size_usd: Decimal | None = None
    fraction: Decimal | None = None
    price: Decimal | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class LeaderTradeOutcome:
    trades: list[LeaderTrade]  # one, or two for a flip (close, then open)
    created: bool

    @property
    def effect(self) -> str:
        return "flip" if len(self.trades) > 1 else self.trades[0].effect


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


def signal_time_parse(value) -> datetime:
    """Unix seconds (a number) or ISO-8601 (UTC when no offset is given)."""
    if isinstance(value, bool):
        raise ValidationError({"timestamp": "Use unix seconds or an ISO-8601 date-time."})
    if isinstance(value, int | float | Decimal):
        try:
            seconds = to_decimal(value)
            if not seconds.is_finite():
                raise ValueError
            return datetime.fromtimestamp(float(seconds), tz=UTC)
        except (ValueError, OverflowError, OSError, InvalidOperation):
            raise ValidationError({"timestamp": "Unix seconds out of range."}) from None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError({"timestamp": "Use unix seconds or an ISO-8601 date-time."})
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValidationError({"timestamp": "Use unix seconds or an ISO-8601 date-time."})


def signal_time_check(*, sent_at: datetime, now: datetime) -> None:
    """The replay window, both ways: an old signed body cannot be replayed later, and a
    body dated in the future cannot be held back and replayed then."""
    window = timedelta(seconds=settings.WEBHOOK_MAX_AGE_SECONDS)
    if sent_at < now - window:
        raise ApplicationError(f"Stale timestamp: signals older than {settings.WEBHOOK_MAX_AGE_SECONDS} seconds are refused.", status_code=401)
    if sent_at > now + window:
        raise ApplicationError(f"Timestamp is more than {settings.WEBHOOK_MAX_AGE_SECONDS} seconds in the future.", status_code=401)


# Upper bounds of what a signal may ask for (nobody trades more). An amount is a quantity
# column's value: larger ones could be neither quantized nor stored.
SIGNAL_MAX = {"amount": MAX_QUANTITY, "position_size_usd": Decimal("1e11"), "fraction": Decimal("1"), "price": Decimal("1e11")}
SIGNAL_FIELDS = ("external_id", "symbol", "action", *SIGNAL_MAX, "timestamp")
_EXTERNAL_ID = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: it is a key, not prose


def leader_signal_parse(payload, *, extra_fields: tuple[str, ...] = (), timestamp_required: bool = False) -> LeaderSignal:
    """A leader's signal from a request body (the webhook's or the REST call's), or a
    ValidationError naming the field. Unknown fields are refused: a typo (`ammount`) must not
    be silently dropped. `extra_fields` are the caller's own (the webhook's strategy_id)."""
    if not isinstance(payload, dict):
        raise ValidationError({"non_field_errors": "Send a JSON object."})
    unknown = sorted(set(payload) - set(SIGNAL_FIELDS) - set(extra_fields))
    if unknown:
        raise ValidationError({unknown[0]: "Unknown field."})
    external_id = _text(payload, "external_id", max_length=MAX_EXTERNAL_ID_LENGTH)
    if not _EXTERNAL_ID.match(external_id):
        raise ValidationError({"external_id": "Use printable characters without spaces."})
    if external_id.endswith(FLIP_SUFFIX):
        raise ValidationError({"external_id": f"The suffix '{FLIP_SUFFIX}' is reserved for flips."})
    symbol = _text(payload, "symbol", max_length=50)
    action = payload.get("action")
    if action not in ACTIONS:
        raise ValidationError({"action": f"Use one of {', '.join(ACTIONS)}." if action is not None else "This field is required."})
    numbers = {name: _signal_number(payload, name) for name in SIGNAL_MAX if payload.get(name) is not None}
    sizes = [name for name in ("amount", "position_size_usd", "fraction") if name in numbers]
    if action == CLOSE and sizes:
        raise ValidationError({sizes[0]: "A close takes the whole position; send no size."})
    if action != CLOSE and len(sizes) != 1:
        raise ValidationError({"amount": "Send exactly one of amount, position_size_usd or fraction."})
    if payload.get("timestamp") is not None:
        sent_at = signal_time_parse(payload["timestamp"])
    elif timestamp_required:
        raise ValidationError({"timestamp": "This field is required."})
    else:
        sent_at = None
    return LeaderSignal(external_id=external_id, symbol=symbol, action=action, sent_at=sent_at, **numbers)


def _text(payload: dict, name: str, *, max_length: int) -> str:
    value = payload.get(name)
    if value is None:
        raise ValidationError({name: "This field is required."})
    if not isinstance(value, str):
        raise ValidationError({name: "Not a valid string."})
    value = value.strip()
    if not value:
        raise ValidationError({name: "This field may not be blank."})
    if len(value) > max_length:
        raise ValidationError({name: f"Ensure this field has no more than {max_length} characters."})
    return value


def _signal_number(payload: dict, name: str) -> Decimal:
    value = payload[name]
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
            raise ValueError
        number = to_decimal(value.strip() if isinstance(value, str) else value)
    except (ArithmeticError, ValueError):
        raise ValidationError({name: "A valid number is required."}) from None
    if not number.is_finite():
        raise ValidationError({name: "A valid number is required."})
    if number <= 0:
        raise ValidationError({name: "Must be greater than 0."})
    if number > SIGNAL_MAX[name]:
        raise ValidationError({name: f"Ensure this value is less than or equal to {SIGNAL_MAX[name]}."})
    return number


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
    return leader_signal_submit(strategy_id=strategy.pk, signal=dataclasses.replace(signal, sent_at=sent_at), source=Strategy.Source.WEBHOOK)


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
    existing = _recorded_trades(strategy_id=strategy.pk, external_id=signal.external_id)
    if existing:
        return LeaderTradeOutcome(trades=existing, created=False)
    if strategy.status != Strategy.Status.RUNNING:
        raise ConflictError(f"Strategy '{strategy.name}' is paused; resume it to send signals.")
    if strategy.source == Strategy.Source.EXCHANGE_SYNC:
        # Its fills arrive by sync; a signal as well would record the same trade twice.
        raise ConflictError("This strategy records its trades by exchange sync; it does not take signals.")
    if strategy.leader_account is None:
        return _signal_record_at_market(strategy=strategy, signal=signal, source=source)
    return _leader_order_place_and_record(strategy=strategy, signal=signal, source=source)


def _signal_record_at_market(*, strategy: Strategy, signal: LeaderSignal, source: str) -> LeaderTradeOutcome:
    """A signal-only strategy's trade, at the market's price and time when the signal arrives
    (the price source paper accounts trade at). A leader who could date or price their own
    trades could pad a record followers pay for; what they declared is kept beside it."""
    gateway = _market_gateway(strategy)
    with _exchange_call(gateway.exchange_id, "the market price lookup"):
        markets = gateway.markets()
        market = markets[resolve_symbol(signal.symbol, markets)]
        market_price = to_money(to_decimal(gateway.ticker_price(market.symbol)))
    if signal.price is not None:
        declared_price_check(declared=signal.price, market_price=market_price, symbol=market.symbol)
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
        traded_at=timezone.now(),
        source=source,
        market=market,
    )


def declared_price_check(*, declared: Decimal, market_price: Decimal, symbol: str) -> None:
    """A price the leader sends must lie within SIGNAL_PRICE_TOLERANCE_PERCENT of the market's:
    further off is a typo or a stale quote, and followers must not trade on it."""
    if market_price <= 0:
        return  # a price too small to record: the recording refuses the trade, whatever was declared
    tolerance = settings.SIGNAL_PRICE_TOLERANCE_PERCENT
    gap_percent = abs(declared - market_price) / market_price * HUNDRED
    if gap_percent > tolerance:
        raise ApplicationError(
            f"Your price {_plain(declared)} is {gap_percent.quantize(Decimal('0.01'))} % away from the market's "
            f"{_plain(market_price)} for {symbol}; signals more than {_plain(tolerance)} % from the market are refused. "
            "Send no price to trade at the market's.",
            {"declared_price": _plain(declared), "market_price": _plain(market_price), "tolerance_percent": _plain(tolerance)},
        )


def _plain(value: Decimal) -> str:
    """A price as its digits: no exponent, no trailing zeros."""
    return f"{value.normalize():f}"


def _leader_order_place_and_record(*, strategy: Strategy, signal: LeaderSignal, source: str) -> LeaderTradeOutcome:
    account = strategy.leader_account
    if account.status != ExchangeAccount.Status.ACTIVE:
        raise ConflictError(f"The leader account is {account.status}: {account.get_status_reason_display() or 'reconnect it'}.")
    client_order_id = leader_client_order_id(strategy_id=strategy.pk, external_id=signal.external_id)
    # One attempt per signal at a time: two copies of a signal racing past the duplicate
    # check would each place an order, and the exchange accepts a reused client order id
    # once the first order is filled.
    with held_lock(f"leader-signal:{strategy.pk}:{client_order_id}", timeout=SIGNAL_LOCK_SECONDS) as held:
        if not held:
            raise ConflictError("This signal is being executed right now; send it again in a moment for its result.")
        # A copy of this signal that passed the duplicate check before the first was
        # recorded finds the first's order at the exchange by its client order id, and its
        # recording finds the first's trades under the strategy lock: no second order.
        return _leader_order_execute(strategy=strategy, signal=signal, source=source, client_order_id=client_order_id)


def _leader_order_execute(*, strategy: Strategy, signal: LeaderSignal, source: str, client_order_id: str) -> LeaderTradeOutcome:
    account = strategy.leader_account
    gateway = gateway_for_account(account)
    with _exchange_call(account.exchange_id, "the market and balance lookup"):
        market = gateway.market(signal.symbol)
        equity = to_decimal(gateway.equity(strategy.quote_currency).equity)
        reference_price = to_decimal(gateway.ticker_price(market.symbol))
        # Before the leader's order: a market whose P&L could not be billed is refused (400).
        market_conversion_check(market=market, markets=gateway.markets(), exchange_id=account.exchange_id)
    if signal.price is not None:
        declared_price_check(declared=signal.price, market_price=reference_price, symbol=market.symbol)
    held = held_quantity(strategy=strategy, symbol=market.symbol)
    side, amount, reducing = _order_for_signal(signal=signal, held=held, market=market, reference_price=reference_price)
    if amount * reference_price * market.contract_size > MAX_NOTIONAL:
        raise ApplicationError("This order is larger than the platform can record.")

    result = _leader_order_place(
        gateway=gateway,
        account=account,
        market=market,
        side=side,
        amount=amount,
        client_order_id=client_order_id,
        reduce_only=reducing and market.type != "spot",
    )
    if result.filled <= 0:
        raise ApplicationError(
            f"The leader order was not filled (status {result.status}); nothing was recorded. "
            "Send a new signal, with a new external_id, to trade."
        )
    price = result.average_price or result.cost / result.filled
    logger.info("strategy %s leader order %s filled %s %s at %s", strategy.pk, client_order_id, result.filled, market.symbol, price)
    return leader_trade_record(
        strategy=strategy,
        external_id=signal.external_id,
        symbol=market.symbol,
        side=CLOSE if signal.action == CLOSE else (result.side or side),
        amount=result.filled,
        price=price,
        traded_at=result.timestamp or timezone.now(),
        source=source,
        fee=result.fee_in_quote(market=market, price=price),
        exchange_order_id=result.exchange_order_id,
        leader_equity=equity,
        market=market,
        declared_price=signal.price,
    )


def _order_for_signal(*, signal: LeaderSignal, held: Decimal, market: MarketRules, reference_price: Decimal) -> tuple[str, Decimal, bool]:
    """(side, amount, reduces the position) of the leader's market order: the legs the
    recording will make of it, so the order and the record follow one rule."""
    amount = _quantity(signal.position_size_usd / reference_price) if signal.position_size_usd is not None else signal.amount
    legs = leader_trade_legs(held=held, side=signal.action, amount=amount, fraction=signal.fraction, market=market)
    reducing = len(legs) == 1 and legs[0].effect in (LeaderTrade.Effect.REDUCE, LeaderTrade.Effect.CLOSE)
    return legs[0].side, sum(leg.amount for leg in legs), reducing


def _leader_order_place(*, gateway, account, market: MarketRules, side: str, amount: Decimal, client_order_id: str, reduce_only: bool) -> OrderResult:
    with _exchange_call(account.exchange_id, "the leader order"):
        try:
            # An earlier attempt of this signal may have placed the order and then lost the
            # answer (timeout) or died before recording it. The exchange would accept the same
            # client order id again once that order is filled, so ask before sending.
            return gateway.fetch_order_by_client_id(symbol=market.symbol, client_order_id=client_order_id)
        except OrderNotFoundError:
            pass
        try:
            return gateway.create_order(
                symbol=market.symbol, side=side, amount=amount, client_order_id=client_order_id, reduce_only=reduce_only
            )
        except (DuplicateClientOrderIdError, UnknownOutcomeError) as exc:
            # The order may exist: this attempt timed out after sending. Read it back; never
            # send it again.
            try:
                return gateway.fetch_order_by_client_id(symbol=market.symbol, client_order_id=client_order_id)
            except OrderNotFoundError:
                raise UnknownOutcomeError(
                    "The exchange did not confirm the leader order; send the same signal again to retry it safely."
                ) from exc


class _exchange_call:
    """Exchange errors → the API's: a refusal is 400 with the exchange's reason, anything
    retryable (transient, unknown outcome) is 503 and recorded nothing."""

    def __init__(self, exchange_id: str, doing: str):
        self.exchange_id = exchange_id
        self.doing = doing

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, ExchangeError):
            return False
        if isinstance(exc, UnknownSymbolError):
            raise ApplicationError(exc.message, {"reason": exc.reason}) from None
        if isinstance(exc, PermanentExchangeError):
            raise ApplicationError(f"{self.exchange_id} refused {self.doing}: {exc.message}", {"reason": exc.reason}) from None
        raise ApplicationError(
            f"{self.exchange_id} is not answering ({exc.reason}) to {self.doing}; nothing was recorded. "
            "Send the same signal again.",
            {"reason": exc.reason},
            status_code=503,
        ) from None


def leader_trade_record(
    *,
    strategy: Strategy,
    external_id: str,
    symbol: str,
    side: str,
    price: Decimal,
    traded_at: datetime,
    source: str,
    amount: Decimal | None = None,
    position_size_usd: Decimal | None = None,
    fraction: Decimal | None = None,
    fee: Decimal = ZERO,
    exchange_order_id: str = "",
    leader_equity: Decimal | None = None,
    market: MarketRules | None = None,
    declared_price: Decimal | None = None,
) -> LeaderTradeOutcome:
    """Record a leader fill and enqueue its fan-out on commit. Idempotent by external_id.

    side: buy | sell | close (close: the whole position; `amount`, when given, is what
    the close order really filled). One of amount / position_size_usd (amount = usd /
    price) / fraction (of the current position, which the side must reduce), as
    `leader_signal_parse` lets through.
    `market` is the resolved market when the caller already has it; else `symbol` is
    resolved against the leader account's markets, or the paper price source's for a
    signal-only strategy. A buy/sell larger than the position on the other side flips it
    on a swap (two trades: `<id>` closes, `<id>:flip` opens); on spot it is refused.
    """
    # The shape of a signal (one size, a fraction in (0, 1], a close without one) is
    # `leader_signal_parse`'s rule; what is checked here is what recording adds: the numbers
    # must survive rounding to the columns.
    price = to_money(_positive("price", price))
    if price <= 0:
        raise ValidationError({"price": "price is below the smallest recordable price."})
    if position_size_usd is not None:
        amount = _positive("position_size_usd", position_size_usd) / price
        if amount > MAX_QUANTITY:
            raise ValidationError({"position_size_usd": "At this price that is more than the platform can record."})
        amount = _quantity(amount)
    if amount is not None:
        amount = _positive("amount", amount)
        if amount > MAX_QUANTITY:
            raise ValidationError({"amount": f"Ensure this value is less than or equal to {MAX_QUANTITY}."})
        amount = _quantity(amount)
        if amount <= 0:
            raise ValidationError({"amount": "The amount is below the smallest recordable quantity."})

    # Network first, then the transaction: no row lock is held while an exchange answers.
    gateway = _market_gateway(strategy)
    with _exchange_call(gateway.exchange_id, "the market lookup"):
        markets = gateway.markets()
        if market is None:
            market = markets[resolve_symbol(symbol, markets)]
    market_conversion_check(market=market, markets=markets, exchange_id=gateway.exchange_id)
    if leader_equity is None and strategy.leader_account is not None:
        with _exchange_call(strategy.leader_account.exchange_id, "the leader equity lookup"):
            leader_equity = to_decimal(gateway_for_account(strategy.leader_account).equity(strategy.quote_currency).equity)
    return _record(
        strategy_id=strategy.pk,
        external_id=external_id,
        market=market,
        side=side,
        amount=amount,
        fraction=to_decimal(fraction) if fraction is not None else None,
        price=price,
        declared_price=to_money(declared_price) if declared_price is not None else None,
        fee=to_money(fee),
        traded_at=traded_at,
        source=source,
        exchange_order_id=exchange_order_id,
        leader_equity=leader_equity,
    )


def _market_gateway(strategy: Strategy):
    """Where the strategy's markets are looked up: its leader account's exchange, or the
    paper price source's for a signal-only strategy."""
    if strategy.leader_account is not None:
        return gateway_for_account(strategy.leader_account)
    from exchanges.gateways.ccxt_gateway import CcxtGateway

    return CcxtGateway.public(settings.PAPER_PRICE_SOURCE)


@dataclass(frozen=True)
class _Leg:
    side: str
    amount: Decimal
    effect: str
    reduce_fraction: Decimal | None
    position_after: Decimal
    external_suffix: str = ""


def leader_trade_legs(*, held: Decimal, side: str, amount: Decimal | None, fraction: Decimal | None, market: MarketRules) -> list[_Leg]:
    """The effect of a trade on a signed position `held`, as one leg, or two for a flip."""
    if side == CLOSE:
        if held == 0:
            raise ApplicationError(f"There is no open {market.symbol} position to close.")
        closing_side = SELL if held > 0 else BUY
        if amount is None or amount >= abs(held):
            return [_Leg(closing_side, abs(held), LeaderTrade.Effect.CLOSE, Decimal(1), ZERO)]
        # The leader's close order filled only in part: what it sold is a reduction.
        side = closing_side
    direction = 1 if side == BUY else -1
    if fraction is not None:
        _check_fraction_reduces(held=held, side=side, symbol=market.symbol)
        if fraction == 1:
            return [_Leg(side, abs(held), LeaderTrade.Effect.CLOSE, Decimal(1), ZERO)]
        amount = _quantity(abs(held) * fraction)
        if amount <= 0:
            raise ApplicationError("This fraction of the position is below the smallest recordable quantity.")
        return [_Leg(side, amount, LeaderTrade.Effect.REDUCE, fraction, held + direction * amount)]

    after = held + direction * amount
    if market.type == "spot" and after < 0:
        raise ApplicationError("cannot sell more than the position on spot")
    if held == 0:
        return [_Leg(side, amount, LeaderTrade.Effect.OPEN, None, after)]
    if (held > 0) == (direction > 0):
        return [_Leg(side, amount, LeaderTrade.Effect.INCREASE, None, after)]
    if amount < abs(held):
        fraction = (amount / abs(held)).quantize(FRACTION_STEP, rounding=ROUND_HALF_EVEN)
        return [_Leg(side, amount, LeaderTrade.Effect.REDUCE, max(fraction, FRACTION_STEP), after)]
    if amount == abs(held):
        return [_Leg(side, amount, LeaderTrade.Effect.CLOSE, Decimal(1), ZERO)]
    return [
        _Leg(side, abs(held), LeaderTrade.Effect.CLOSE, Decimal(1), ZERO),
        _Leg(side, amount - abs(held), LeaderTrade.Effect.OPEN, None, after, FLIP_SUFFIX),
    ]


def _check_fraction_reduces(*, held: Decimal, side: str, symbol: str) -> None:
    if held == 0:
        raise ApplicationError(f"There is no open {symbol} position to reduce by a fraction.")
    if (held > 0) == (side == BUY):
        raise ApplicationError(f"A fraction reduces the position: send {SELL if held > 0 else BUY} to reduce this {symbol} position.")


@transaction.atomic
def _record(
    *,
    strategy_id: int,
    external_id: str,
    market: MarketRules,
    side: str,
    amount: Decimal | None,
    fraction: Decimal | None,
    price: Decimal,
    declared_price: Decimal | None,
    fee: Decimal,
    traded_at: datetime,
    source: str,
    exchange_order_id: str,
    leader_equity: Decimal | None,
) -> LeaderTradeOutcome:
    # The strategy row lock serialises every recording for this strategy: sequences are
    # gap-free and ordered, and the position below cannot change under us.
    strategy = Strategy.objects.select_for_update().get(pk=strategy_id)
    existing = _recorded_trades(strategy_id=strategy_id, external_id=external_id)
    if existing:  # a concurrent duplicate committed while we waited for the lock
        return LeaderTradeOutcome(trades=existing, created=False)
    position, _ = LeaderPosition.objects.select_for_update().get_or_create(strategy=strategy, symbol=market.symbol)
    if leader_equity is None:
        realised = LeaderPosition.objects.filter(strategy=strategy).aggregate(total=Sum("realized_pnl"))["total"] or ZERO
        leader_equity = strategy.declared_capital + realised
    legs = leader_trade_legs(held=position.quantity, side=side, amount=amount, fraction=fraction, market=market)
    if any(leg.amount * price * market.contract_size > MAX_NOTIONAL or abs(leg.position_after) > MAX_QUANTITY for leg in legs):
        raise ApplicationError("This trade is larger than the platform can record.")

    Strategy.objects.filter(pk=strategy_id).update(last_sequence=F("last_sequence") + len(legs))
    total_amount = sum(leg.amount for leg in legs)
    trades = []
    for index, leg in enumerate(legs, start=1):
        leg_fee = to_money(fee * leg.amount / total_amount) if index < len(legs) else fee - sum(t.fee for t in trades)
        realised_pnl = position_apply_fill(position, fill=Fill(side=leg.side, amount=leg.amount, price=price, fee_quote=leg_fee, contract_size=market.contract_size)) - leg_fee
        trade = LeaderTrade(
            strategy=strategy,
            external_id=external_id + leg.external_suffix,
            sequence=strategy.last_sequence + index,
            symbol=market.symbol,
            side=leg.side,
            amount=leg.amount,
            price=price,
            declared_price=declared_price,
            notional=to_money(leg.amount * price * market.contract_size),
            fee=leg_fee,
            leader_equity=to_money(leader_equity),
            effect=leg.effect,
            reduce_fraction=leg.reduce_fraction,
            position_after=leg.position_after,
            realized_pnl=to_money(realised_pnl),
            source=source,
            exchange_order_id=exchange_order_id,
            traded_at=traded_at,
        )
        trade.full_clean(validate_unique=False, validate_constraints=False)
        trade.save()
        trades.append(trade)
        transaction.on_commit(lambda trade_id=trade.pk: _fan_out_enqueue(trade_id), robust=True)
    position.realized_pnl = to_money(position.realized_pnl + sum(t.realized_pnl for t in trades))
    position.full_clean(validate_unique=False, validate_constraints=False)
    position.save()
    logger.info("strategy %s recorded %s (%s)", strategy_id, ", ".join(str(t) for t in trades), source)
    return LeaderTradeOutcome(trades=trades, created=True)


def _recorded_trades(*, strategy_id: int, external_id: str) -> list[LeaderTrade]:
    return list(
        LeaderTrade.objects.filter(strategy_id=strategy_id, external_id__in=[external_id, external_id + FLIP_SUFFIX]).order_by("sequence")
    )


def held_quantity(*, strategy: Strategy, symbol: str) -> Decimal:
    position = LeaderPosition.objects.filter(strategy=strategy, symbol=symbol).only("quantity").first()
    return position.quantity if position else ZERO


def _positive(name: str, value) -> Decimal:
    value = to_decimal(value)
    if not value.is_finite() or value <= 0:
        raise ValidationError({name: f"{name} must be greater than 0."})
    return value


def _quantity(value: Decimal) -> Decimal:
    return truncate(value, settings.QUANTITY_DECIMAL_PLACES)


def _fan_out_enqueue(leader_trade_id: int) -> None:
    leader_trade_fan_out_send(leader_trade_id)
    # When the leader's trade left for the fan-out queue: the first step of its latency.
    LeaderTrade.objects.filter(pk=leader_trade_id).update(fanout_enqueued_at=timezone.now())
