"""The leader's own order: with a linked leader account the platform places the signal as a
market order there and records what really filled. Every exchange call (market, equity,
price, the order) happens before the recording transaction opens."""

import logging
from decimal import Decimal

from django.utils import timezone

from copytrade.client_order_ids import leader_client_order_id
from copytrade.currency import market_conversion_check
from copytrade.models import LeaderTrade, Strategy
from copytrade.services.leader_trades.market import declared_price_check, exchange_call, signal_market_resolve
from copytrade.services.leader_trades.record import (
    MAX_NOTIONAL,
    LeaderTradeOutcome,
    held_quantity,
    leader_trade_legs,
    leader_trade_record,
    quantity_truncate,
)
from copytrade.services.leader_trades.signal import CLOSE, LeaderSignal
from core.errors import ApplicationError, ConflictError
from core.locks import held_lock
from core.money import to_decimal
from exchanges.errors import DuplicateClientOrderIdError, OrderNotFoundError, UnknownOutcomeError
from exchanges.fees import fee_kept_from_amount, order_fee_in_quote
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount
from exchanges.types import MarketRules, OrderResult

logger = logging.getLogger(__name__)

# Longer than the exchange calls of one leader order can take; a crashed attempt's lock expires.
SIGNAL_LOCK_SECONDS = 120


def leader_order_place_and_record(*, strategy: Strategy, signal: LeaderSignal, source: str) -> LeaderTradeOutcome:
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
    with exchange_call(account.exchange_id, "the market and balance lookup"):
        resolved = signal_market_resolve(gateway=gateway, symbol=signal.symbol)
        market = resolved.market
        equity = to_decimal(gateway.equity(strategy.quote_currency).equity)
        reference_price = to_decimal(gateway.ticker_price(market.symbol))
        # Before the leader's order, and the only time for this signal: a market whose P&L
        # could not be billed is refused (400).
        market_conversion_check(market=market, markets=resolved.markets, exchange_id=account.exchange_id)
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
        fee=order_fee_in_quote(
            gateway=gateway, market=market, result=result, price=price, fill_id=f"leader order {result.exchange_order_id}"
        ),
        fee_in_base=fee_kept_from_amount(market=market, side=result.side or side, fee=result.fee, fee_currency=result.fee_currency),
        exchange_order_id=result.exchange_order_id,
        leader_equity=equity,
        declared_price=signal.price,
        leverage=signal.leverage,
        market=market,
        market_checked=True,
    )


def _order_for_signal(*, signal: LeaderSignal, held: Decimal, market: MarketRules, reference_price: Decimal) -> tuple[str, Decimal, bool]:
    """(side, amount, reduces the position) of the leader's market order: the legs the
    recording will make of it, so the order and the record follow one rule."""
    amount = quantity_truncate(signal.position_size_usd / reference_price) if signal.position_size_usd is not None else signal.amount
    legs = leader_trade_legs(held=held, side=signal.action, amount=amount, fraction=signal.fraction, market=market)
    reducing = len(legs) == 1 and legs[0].effect in (LeaderTrade.Effect.REDUCE, LeaderTrade.Effect.CLOSE)
    return legs[0].side, sum(leg.amount for leg in legs), reducing


def _leader_order_place(
    *, gateway, account, market: MarketRules, side: str, amount: Decimal, client_order_id: str, reduce_only: bool
) -> OrderResult:
    with exchange_call(account.exchange_id, "the leader order"):
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
