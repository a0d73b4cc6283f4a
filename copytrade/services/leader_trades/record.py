"""Recording a leader fill: the legs it makes of the position (one, or two for a flip), the
leader trade rows under the strategy's lock, and the fan-out enqueued on commit.

`leader_trade_record` is the entry of a caller that has only a symbol (exchange sync, tests):
it looks the market up and checks it can be billed. A signal's own path resolved and checked
its market once already and hands it over with `market_checked`.
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from copytrade.currency import market_conversion_check
from copytrade.models import LeaderPosition, LeaderTrade, Strategy
from copytrade.positions import Fill, position_apply_fill
from copytrade.services.fanout import leader_trade_fan_out_send
from copytrade.services.leader_trades.market import exchange_call, market_gateway
from copytrade.services.leader_trades.signal import BUY, CLOSE, FLIP_SUFFIX, SELL
from core.errors import ApplicationError
from core.money import MAX_MONEY, MAX_QUANTITY, ZERO, to_decimal, to_money, truncate
from exchanges.gateways import gateway_for_account
from exchanges.symbols import resolve_symbol
from exchanges.types import MarketRules

logger = logging.getLogger(__name__)

FRACTION_STEP = Decimal(1).scaleb(-18)

# Money columns hold this many integer digits; a larger notional cannot be recorded, so a
# leader order that big is refused before it is placed.
MAX_NOTIONAL = MAX_MONEY


@dataclass(frozen=True)
class LeaderTradeOutcome:
    trades: list[LeaderTrade]  # one, or two for a flip (close, then open)
    created: bool

    @property
    def effect(self) -> str:
        return "flip" if len(self.trades) > 1 else self.trades[0].effect


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
    fee_in_base: Decimal = ZERO,
    exchange_order_id: str = "",
    leader_equity: Decimal | None = None,
    market: MarketRules | None = None,
    market_checked: bool = False,
    declared_price: Decimal | None = None,
    leverage: int | None = None,
) -> LeaderTradeOutcome:
    """Record a leader fill and enqueue its fan-out on commit. Idempotent by external_id.

    side: buy | sell | close (close: the whole position; `amount`, when given, is what
    the close order really filled). One of amount / position_size_usd (amount = usd /
    price) / fraction (of the current position, which the side must reduce), as
    `leader_signal_parse` lets through.
    `market` is the resolved market when the caller already has it; else `symbol` is
    resolved against the leader account's markets, or the paper price source's for a
    signal-only strategy, and checked for billing. A signal's own path has resolved and
    checked its market already and passes it with `market_checked`: it is not looked up
    again. A buy/sell larger than the position on the other side flips it
    on a swap (two trades: `<id>` closes, `<id>:flip` opens); on spot it is refused.
    `fee` is in the quote currency. `fee_in_base`: what of a spot buy's filled amount the
    exchange kept as its fee (Binance charges a buy in the base coin). The trade keeps the
    filled amount, which is what the leader ordered and what followers mirror (each pays its
    own exchange's fee); the leader's position grows only by what reached the account, so
    selling all of it later closes the position rather than leaving a sliver open.
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
        amount = quantity_truncate(amount)
    if amount is not None:
        amount = _positive("amount", amount)
        if amount > MAX_QUANTITY:
            raise ValidationError({"amount": f"Ensure this value is less than or equal to {MAX_QUANTITY}."})
        amount = quantity_truncate(amount)
        if amount <= 0:
            raise ValidationError({"amount": "The amount is below the smallest recordable quantity."})

    # Network first, then the transaction: no row lock is held while an exchange answers.
    if not market_checked:
        gateway = market_gateway(strategy)
        with exchange_call(gateway.exchange_id, "the market lookup"):
            markets = gateway.markets()
            if market is None:
                market = markets[resolve_symbol(symbol, markets)]
        market_conversion_check(market=market, markets=markets, exchange_id=gateway.exchange_id)
    if leader_equity is None and strategy.leader_account is not None:
        with exchange_call(strategy.leader_account.exchange_id, "the leader equity lookup"):
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
        fee_in_base=fee_in_base,
        traded_at=traded_at,
        source=source,
        exchange_order_id=exchange_order_id,
        leader_equity=leader_equity,
        leverage=leverage if market.type == "swap" else None,
    )


@dataclass(frozen=True)
class _Leg:
    side: str
    amount: Decimal
    effect: str
    reduce_fraction: Decimal | None
    position_after: Decimal
    external_suffix: str = ""
    kept_as_fee: Decimal = ZERO  # of `amount`, taken by the exchange as its fee (not held)


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
        amount = quantity_truncate(abs(held) * fraction)
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
    fee_in_base: Decimal = ZERO,
    leverage: int | None = None,
) -> LeaderTradeOutcome:
    # The strategy row lock serialises every recording for this strategy: sequences are
    # gap-free and ordered, and the position below cannot change under us.
    strategy = Strategy.objects.select_for_update().get(pk=strategy_id)
    existing = leader_trades_recorded(strategy_id=strategy_id, external_id=external_id)
    if existing:  # a concurrent duplicate committed while we waited for the lock
        return LeaderTradeOutcome(trades=existing, created=False)
    position, _ = LeaderPosition.objects.select_for_update().get_or_create(strategy=strategy, symbol=market.symbol)
    if leader_equity is None:
        realised = LeaderPosition.objects.filter(strategy=strategy).aggregate(total=Sum("realized_pnl"))["total"] or ZERO
        leader_equity = strategy.declared_capital + realised
    legs = leader_trade_legs(held=position.quantity, side=side, amount=amount, fraction=fraction, market=market)
    if fee_in_base > 0 and market.type == "spot" and len(legs) == 1 and legs[0].side == BUY and fee_in_base < legs[0].amount:
        # The base coin the exchange kept never reached the account: the position does not hold it.
        legs = [replace(legs[0], position_after=legs[0].position_after - fee_in_base, kept_as_fee=fee_in_base)]
    if any(leg.amount * price * market.contract_size > MAX_NOTIONAL or abs(leg.position_after) > MAX_QUANTITY for leg in legs):
        raise ApplicationError("This trade is larger than the platform can record.")

    Strategy.objects.filter(pk=strategy_id).update(last_sequence=F("last_sequence") + len(legs))
    total_amount = sum(leg.amount for leg in legs)
    trades = []
    for index, leg in enumerate(legs, start=1):
        leg_fee = to_money(fee * leg.amount / total_amount) if index < len(legs) else fee - sum(t.fee for t in trades)
        realised_pnl = (
            position_apply_fill(
                position,
                fill=Fill(
                    side=leg.side, amount=leg.amount - leg.kept_as_fee, price=price, fee_quote=leg_fee, contract_size=market.contract_size
                ),
            )
            - leg_fee
        )
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
            leverage=leverage,
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


def leader_trades_recorded(*, strategy_id: int, external_id: str) -> list[LeaderTrade]:
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


def quantity_truncate(value: Decimal) -> Decimal:
    return truncate(value, settings.QUANTITY_DECIMAL_PLACES)


def _fan_out_enqueue(leader_trade_id: int) -> None:
    leader_trade_fan_out_send(leader_trade_id)
    # When the leader's trade left for the fan-out queue: the first step of its latency.
    LeaderTrade.objects.filter(pk=leader_trade_id).update(fanout_enqueued_at=timezone.now())
