"""Perpetuals on a paper account, as the exchange would run them (one-way mode, margin in the
quote currency), for `PaperGateway`:

- leverage and margin mode per symbol (`PaperPerpetualPosition`); the margin mode cannot
  change while a position is open, as on Binance;
- an order that opens or adds takes notional / leverage + fee of margin from the quote
  balance's free amount (InsufficientFundsError when short); a reduce-only order that would
  open or add is refused; a reduction gives back its share of the margin plus the realised
  P&L, less the fee;
- a position whose mark reaches its liquidation price (the margin it holds less the loss
  leaves only the maintenance margin, at the market's rate) is closed there when it is next
  looked at (an order on it, a read of positions): its margin is lost;
- funding is not modelled: paper has no funding source (`funding_payments` is empty).

Margin sits on the position row for cross and isolated alike; cross therefore liquidates as
isolated would, which is the cautious side for a follower rehearsing a copy.
"""

from decimal import ROUND_HALF_EVEN, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.money import ZERO
from exchanges.errors import DuplicateClientOrderIdError, InsufficientFundsError, OrderRejectedError
from exchanges.models import ExchangeAccount, PaperBalance, PaperOrder, PaperPerpetualPosition
from exchanges.types import FuturesPosition, MarketRules

DEFAULT_MAINTENANCE_MARGIN_RATE = Decimal("0.004")


def _rate(market: MarketRules) -> Decimal:
    return market.maintenance_margin_rate if market.maintenance_margin_rate is not None else DEFAULT_MAINTENANCE_MARGIN_RATE


def liquidation_price(position: PaperPerpetualPosition, market: MarketRules) -> Decimal | None:
    """LP = (margin − q × size × entry) / (|q| × size × rate − q × size), Binance's one-position formula."""
    if position.quantity == 0:
        return None
    contracts = position.quantity * market.contract_size
    return max((position.margin - contracts * position.entry_price) / (abs(contracts) * _rate(market) - contracts), ZERO)


def _position_locked(account: ExchangeAccount, symbol: str) -> PaperPerpetualPosition:
    PaperPerpetualPosition.objects.get_or_create(account=account, symbol=symbol)
    return PaperPerpetualPosition.objects.select_for_update().get(account=account, symbol=symbol)


def _quote_locked(account: ExchangeAccount, currency: str) -> PaperBalance:
    PaperBalance.objects.bulk_create([PaperBalance(account=account, currency=currency)], ignore_conflicts=True)
    return PaperBalance.objects.select_for_update().get(account=account, currency=currency)


def settings_apply(account: ExchangeAccount, *, market: MarketRules, leverage: int, margin_mode: str) -> None:
    with transaction.atomic():
        position = _position_locked(account, market.symbol)
        if position.margin_mode != margin_mode and position.quantity != 0:
            raise OrderRejectedError(f"The margin mode of {market.symbol} cannot change while a position is open.")
        position.leverage, position.margin_mode = leverage, margin_mode
        position.save(update_fields=["leverage", "margin_mode"])


def liquidate_if_due(account: ExchangeAccount, *, market: MarketRules, mark: Decimal) -> bool:
    """Close the position at its liquidation price when the mark has reached it; its margin is lost."""
    with transaction.atomic():
        position = PaperPerpetualPosition.objects.select_for_update().filter(account=account, symbol=market.symbol).first()
        if position is None or position.quantity == 0:
            return False
        price = liquidation_price(position, market)
        if price is None or (mark > price if position.quantity > 0 else mark < price):
            return False
        position.quantity, position.entry_price, position.margin = ZERO, ZERO, ZERO
        position.save(update_fields=["quantity", "entry_price", "margin"])
    return True


def positions(account: ExchangeAccount, *, markets: dict[str, MarketRules], mark_of) -> list[FuturesPosition]:
    found = []
    for position in PaperPerpetualPosition.objects.filter(account=account).exclude(quantity=0).order_by("symbol"):
        market = markets.get(position.symbol)
        if market is None:
            continue
        mark = mark_of(position.symbol)
        if liquidate_if_due(account, market=market, mark=mark):
            continue
        found.append(
            FuturesPosition(
                symbol=position.symbol,
                quantity=position.quantity,
                entry_price=position.entry_price,
                mark_price=mark,
                leverage=position.leverage,
                margin_mode=position.margin_mode,
                liquidation_price=liquidation_price(position, market),
                unrealised_pnl=(mark - position.entry_price) * position.quantity * market.contract_size,
            )
        )
    return found


def order_fill(
    account: ExchangeAccount,
    *,
    market: MarketRules,
    side: str,
    amount: Decimal,
    fill_price: Decimal,
    client_order_id: str,
    reduce_only: bool,
    fee_rate: Decimal,
    ledger,
) -> PaperOrder:
    """A market order on a perpetual, filled at `fill_price` (the caller's slipped price)."""
    direction = 1 if side == "buy" else -1
    with transaction.atomic():
        quote = _quote_locked(account, market.quote)  # balance before position: one lock order
        position = _position_locked(account, market.symbol)
        held = position.quantity
        closes = min(amount, abs(held)) if held and (held > 0) != (direction > 0) else ZERO
        opens = amount - closes
        if reduce_only and opens > 0:
            raise OrderRejectedError(f"A reduce-only order of {amount} {market.symbol} would open or add to a position.")
        cost = ledger(amount * fill_price * market.contract_size)
        fee = ledger(cost * fee_rate)
        order = PaperOrder(
            account=account,
            client_order_id=client_order_id,
            symbol=market.symbol,
            side=side,
            type=PaperOrder.Type.MARKET,
            amount=amount,
            status=PaperOrder.Status.CLOSED,
            filled=amount,
            average_price=fill_price,
            cost=cost,
            fee=fee,
            fee_currency=market.quote,
            created_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                order.save()
        except IntegrityError:
            raise DuplicateClientOrderIdError(
                f"Paper account {account.pk} already has an order with client order id '{client_order_id}'."
            ) from None
        margin_in = ledger(opens * fill_price * market.contract_size / position.leverage)
        if quote.free < margin_in + fee:
            raise InsufficientFundsError(
                f"Paper account {account.pk} has {quote.free} {market.quote} of free margin; this order needs {margin_in + fee}."
            )
        released = realised = ZERO
        if closes:
            released = ledger(position.margin * closes / abs(held), rounding=ROUND_HALF_EVEN)
            realised = ledger((fill_price - position.entry_price) * closes * (1 if held > 0 else -1) * market.contract_size)
            position.margin -= released
            position.quantity = held + direction * closes
            if position.quantity == 0:
                position.entry_price, released, position.margin = ZERO, released + position.margin, ZERO
        if opens:
            size = abs(position.quantity)
            position.entry_price = ledger((size * position.entry_price + opens * fill_price) / (size + opens))
            position.quantity += direction * opens
            position.margin += margin_in
        # A loss beyond the released margin comes out of the free balance (never below zero:
        # the liquidation price closes a position before its margin is gone).
        quote.free = max(quote.free + released + realised - margin_in - fee, ZERO)
        quote.save(update_fields=["free"])
        position.save(update_fields=["quantity", "entry_price", "margin"])
    return order
