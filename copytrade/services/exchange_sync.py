"""Leader trades in by exchange sync: a beat task reads the leader account's new fills.

Fees: a fill's fee is recorded in the market's quote (exchanges/fees.py): as it is when the
exchange charged the quote, × the fill's price when it charged the base coin, at the
exchange's price of the coin when it charged a third one (BNB); a fee in a coin the exchange
cannot price in the quote is recorded as zero, with a warning naming the fill. A buy whose
fee was taken in the base coin (Binance spot's default) is recorded with the amount the
exchange filled, which is what followers mirror, while the leader's position grows only by
what reached the account (filled − fee): a later sale of all of it closes the position.
"""

import logging
from datetime import UTC, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from copytrade.client_order_ids import is_copy_order
from copytrade.models import LeaderPosition, Strategy
from copytrade.services.leader_trades import SELL, held_quantity, leader_trade_record
from core.errors import ApplicationError
from core.locks import held_lock
from core.money import to_decimal
from exchanges.errors import (
    ExchangeError,
    UnknownSymbolError,
)
from exchanges.fees import fee_in_quote, fee_kept_from_amount
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount
from exchanges.symbols import resolve_symbol
from exchanges.types import MarketRules, Trade

logger = logging.getLogger(__name__)


SYNC_LOCK_SECONDS = 300


def strategies_exchange_sync() -> int:
    """Sync every running exchange-sync strategy; one failing exchange does not stop the rest.
    Returns how many leader trades were recorded."""
    strategy_ids = Strategy.objects.filter(
        status=Strategy.Status.RUNNING,
        source=Strategy.Source.EXCHANGE_SYNC,
        leader_account__status=ExchangeAccount.Status.ACTIVE,
    ).values_list("id", flat=True)
    recorded = 0
    for strategy_id in strategy_ids:
        try:
            recorded += strategy_exchange_sync(strategy_id=strategy_id)
        except (ExchangeError, ApplicationError) as exc:
            logger.warning("exchange sync of strategy %s failed: %s", strategy_id, getattr(exc, "message", exc))
    return recorded


def strategy_exchange_sync(*, strategy_id: int) -> int:
    """Record the leader account's new fills (external id = exchange trade id) and advance
    the cursor. Returns how many leader trades were recorded."""
    # Beat may start a sync while the previous one still runs; one at a time per strategy.
    with held_lock(f"exchange-sync:{strategy_id}", timeout=SYNC_LOCK_SECONDS) as held:
        return _exchange_sync(strategy_id=strategy_id) if held else 0


def _exchange_sync(*, strategy_id: int) -> int:
    strategy = (
        Strategy.objects.select_related("leader_account")
        .filter(id=strategy_id, status=Strategy.Status.RUNNING, source=Strategy.Source.EXCHANGE_SYNC, leader_account__isnull=False)
        .first()
    )
    if strategy is None:
        return 0
    if strategy.sync_cursor_ms is None:
        # Never synced (switched to sync outside the API): start now, history was no signal.
        Strategy.objects.filter(pk=strategy.pk).update(sync_cursor_ms=int(timezone.now().timestamp() * 1000))
        return 0
    gateway = gateway_for_account(strategy.leader_account)
    since = datetime.fromtimestamp(strategy.sync_cursor_ms / 1000, tz=UTC)
    # Without a symbol the gateway lists fills of the markets the account holds now; a
    # position the leader has just closed is held no more, so its market is asked for too.
    fills = {fill.trade_id: fill for fill in gateway.fetch_my_trades(since=since)}
    open_symbols = LeaderPosition.objects.filter(strategy=strategy).exclude(quantity=0).values_list("symbol", flat=True)
    for symbol in open_symbols:
        fills.update((fill.trade_id, fill) for fill in gateway.fetch_my_trades(symbol=symbol, since=since))
    if not fills:
        return 0
    markets = gateway.markets()
    equity = to_decimal(gateway.equity(strategy.quote_currency).equity)
    # Perpetual fills carry no leverage: the leader's open positions say what it is now.
    perpetual = any(getattr(markets.get(fill.symbol), "is_perpetual", False) for fill in fills.values())
    leverages = {position.symbol: position.leverage for position in gateway.perpetual_positions()} if perpetual else {}
    recorded = 0
    for fill in sorted(fills.values(), key=lambda fill: (fill.timestamp, fill.trade_id)):
        fill_ms = int(fill.timestamp.timestamp() * 1000)
        if fill_ms < strategy.sync_cursor_ms:
            continue
        try:
            if is_copy_order(fill.client_order_id):
                # The platform's own copy order on this account (old data: an account that both
                # leads and is copied onto) is no trade of the leader's: recording it would copy
                # the copies, and two such strategies copying each other would trade by themselves.
                logger.info(
                    "exchange sync of strategy %s ignored fill %s of copy order %s", strategy.pk, fill.trade_id, fill.client_order_id
                )
            else:
                recorded += _fill_record(strategy=strategy, fill=fill, gateway=gateway, markets=markets, equity=equity, leverages=leverages)
        except (ApplicationError, ValidationError, UnknownSymbolError) as exc:
            # A fill that cannot be recorded now never can be: skip it rather than stall
            # the strategy's sync on it forever.
            logger.warning("exchange sync of strategy %s skipped fill %s: %s", strategy.pk, fill.trade_id, exc)
        # ccxt's `since` is inclusive: the cursor stays on the last fill's millisecond and a
        # fill seen twice is dropped by its external id.
        Strategy.objects.filter(pk=strategy.pk).update(sync_cursor_ms=fill_ms)
        strategy.sync_cursor_ms = fill_ms
    return recorded


def _fill_record(
    *, strategy: Strategy, fill: Trade, gateway, markets: dict[str, MarketRules], equity: Decimal, leverages: dict[str, int | None]
) -> int:
    market = markets[resolve_symbol(fill.symbol, markets)]
    amount = fill.amount
    if market.type == "spot" and fill.side == SELL:
        # Coins bought before sync began were never a leader position: only what the
        # strategy holds is mirrored as a reduction or close.
        amount = min(amount, held_quantity(strategy=strategy, symbol=market.symbol))
    if amount <= 0:
        return 0
    # Network before the recording's transaction (a fee in BNB is priced on the exchange).
    fee = fee_in_quote(
        gateway=gateway,
        market=market,
        fee=fill.fee,
        fee_currency=fill.fee_currency,
        price=fill.price,
        filled_at=fill.timestamp,
        fill_id=f"trade {fill.trade_id} (strategy {strategy.pk})",
    )
    outcome = leader_trade_record(
        strategy=strategy,
        external_id=str(fill.trade_id),
        symbol=market.symbol,
        side=fill.side,
        amount=amount,
        price=fill.price,
        traded_at=fill.timestamp,
        source=Strategy.Source.EXCHANGE_SYNC,
        fee=fee,
        fee_in_base=fee_kept_from_amount(market=market, side=fill.side, fee=fill.fee, fee_currency=fill.fee_currency),
        exchange_order_id=str(fill.order_id),
        leader_equity=equity,
        market=market,
        leverage=leverages.get(market.symbol),
    )
    return len(outcome.trades) if outcome.created else 0
