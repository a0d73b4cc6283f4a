"""A virtual spot account in PostgreSQL, priced from live market data (perpetuals:
exchanges/gateways/paper_perpetuals.py).

It behaves like the real exchange where the copy engine can tell: the same market rules
(precision, minimum amount and cost, through `apply_order_rules`), the same errors
(InsufficientFundsError, DuplicateClientOrderIdError, OrderNotFoundError), orders looked up
by client order id. Prices and market rules come from a price source: any object with
`markets()` and `ticker_price(symbol)`, by default the public ccxt gateway of
`settings.PAPER_PRICE_SOURCE`.

Fills:
- Market orders fill at once, in full, at the current price moved against the trader by
  `PAPER_SLIPPAGE_RATE` (a buy pays more, a sell receives less).
- IOC (and FOK) limit orders fill like a market order when that slipped price is within
  the limit, else they expire unfilled.
- Other limit orders that are not marketable rest: their funds are locked, and they fill
  at their limit price when next looked at (fetch or cancel) with the price at or through
  the limit. There is no order book, so a price that crossed and came back in between is
  not seen.
- The fee (`PAPER_FEE_RATE` of the cost) is always taken in the quote currency, so a buy
  adds exactly the filled amount to the base balance and a full close sells exactly that.

Cancelling an order that is no longer open (filled, expired, cancelled; market and IOC
orders are never open) returns it unchanged: a retried cancel is harmless and the caller
sees what really happened. An unknown client order id raises OrderNotFoundError.

Concurrent orders on one account cannot overspend: every change locks the balance rows it
touches with SELECT ... FOR UPDATE, always in currency order so two orders never wait on
each other in a cycle, and a check constraint refuses a negative balance as a last resort.
Price look-ups happen before the transaction so no lock is held across a network call.
"""

import logging
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.money import ZERO, to_decimal
from exchanges.errors import (
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    OrderNotFoundError,
    OrderRejectedError,
    UnknownSymbolError,
)
from exchanges.gateways import paper_perpetuals
from exchanges.gateways.base import ExchangeGateway
from exchanges.models import PAPER, ExchangeAccount, PaperBalance, PaperOrder
from exchanges.rules import apply_order_rules
from exchanges.symbols import resolve_symbol
from exchanges.types import AccountEquity, Balance, FundingPayment, FuturesPosition, MarketRules, OrderResult, Position

logger = logging.getLogger(__name__)

QUOTE = "USDT"
IMMEDIATE_TIME_IN_FORCE = ("IOC", "FOK")
TIME_IN_FORCE = (None, "GTC", *IMMEDIATE_TIME_IN_FORCE)
MAX_CLIENT_ORDER_ID_LENGTH = 64
# Every amount the ledger stores has the quantity field's precision; rounding happens here,
# once, so what is recorded on an order is exactly what moved between balances.
LEDGER_STEP = Decimal(1).scaleb(-settings.QUANTITY_DECIMAL_PLACES)


class PaperGateway(ExchangeGateway):
    exchange_id = PAPER

    def __init__(
        self,
        account: ExchangeAccount,
        *,
        price_source=None,
        fee_rate: Decimal | None = None,
        slippage_rate: Decimal | None = None,
    ):
        if not account.is_paper:
            raise ValueError(f"{account!r} is not a paper account")
        if price_source is None:
            from exchanges.gateways.ccxt_gateway import CcxtGateway

            price_source = CcxtGateway.public(settings.PAPER_PRICE_SOURCE)
        self.account = account
        self.price_source = price_source
        self.fee_rate = to_decimal(settings.PAPER_FEE_RATE if fee_rate is None else fee_rate)
        self.slippage_rate = to_decimal(settings.PAPER_SLIPPAGE_RATE if slippage_rate is None else slippage_rate)

    def markets(self) -> dict[str, MarketRules]:
        """The price source's spot markets (coins) and perpetuals (exchanges/gateways/paper_perpetuals.py)."""
        return {symbol: market for symbol, market in self.price_source.markets().items() if market.type in ("spot", "swap")}

    def ticker_price(self, symbol: str, *, fresh: bool = False) -> Decimal:
        return to_decimal(self.price_source.ticker_price(symbol, fresh=fresh))

    def balance(self) -> dict[str, Balance]:
        return {
            row.currency: Balance(currency=row.currency, free=row.free, used=row.locked, total=row.free + row.locked)
            for row in PaperBalance.objects.filter(account=self.account)
        }

    def equity(self, quote: str = QUOTE) -> AccountEquity:
        """Cash plus every holding marked at its `<currency>/<quote>` price.

        A currency with no such market cannot be priced: it counts as zero and is logged.
        """
        balances = self.balance()
        # Cash alone needs no market data (nor the price source's network).
        markets = self.markets() if any(balance.total for currency, balance in balances.items() if currency != quote) else {}
        equity = ZERO
        for currency, balance in balances.items():
            if currency == quote:
                equity += balance.total
            elif balance.total:
                symbol = f"{currency}/{quote}"
                if symbol in markets:
                    equity += balance.total * self.ticker_price(symbol)
                else:
                    logger.warning("paper account %s: no %s market to value %s %s", self.account.pk, symbol, balance.total, currency)
        free_quote = balances[quote].free if quote in balances else ZERO
        return AccountEquity(quote=quote, equity=equity, free_quote=free_quote, balances=balances)

    def positions(self) -> list[Position]:
        """Every non-zero coin other than the quote currency, as a `<coin>/USDT` position."""
        return [
            Position(symbol=f"{currency}/{QUOTE}", quantity=balance.total)
            for currency, balance in self.balance().items()
            if currency != QUOTE and balance.total > 0
        ]

    def create_order(
        self,
        *,
        symbol: str,
        side: str,
        amount: Decimal,
        client_order_id: str,
        type: str = "market",
        price: Decimal | None = None,
        time_in_force: str | None = None,
        reduce_only: bool = False,  # spot has no reduce-only: a sell can never exceed holdings anyway
        reference_price: Decimal | None = None,  # paper fills at its own current price
    ) -> OrderResult:
        _check_order_shape(side=side, type=type, price=price, time_in_force=time_in_force, client_order_id=client_order_id)
        market = self.market(symbol)
        current_price = self.ticker_price(market.symbol)
        if market.is_perpetual:
            return self._perpetual_order(
                market,
                side=side,
                amount=amount,
                type=type,
                current_price=current_price,
                client_order_id=client_order_id,
                reduce_only=reduce_only,
            )
        amount, price = apply_order_rules(market, amount=amount, price=price, reference_price=current_price, side=side)
        fill_price = self._slipped(current_price, side=side)
        marketable = type == "market" or (fill_price <= price if side == "buy" else fill_price >= price)
        if marketable:
            status = PaperOrder.Status.CLOSED
        elif time_in_force in IMMEDIATE_TIME_IN_FORCE:
            status = PaperOrder.Status.EXPIRED
        else:
            status = PaperOrder.Status.OPEN
        # Funds are checked at the worst price the order may trade at, as exchanges check a
        # limit order at its limit, even one that then expires.
        worst_price = fill_price if type == "market" else price

        order = PaperOrder(
            account=self.account,
            client_order_id=client_order_id,
            symbol=market.symbol,
            side=side,
            type=type,
            amount=amount,
            price=price,
            status=status,
            fee_currency=market.quote,
            created_at=timezone.now(),
        )
        if status == PaperOrder.Status.CLOSED:
            self._fill(order, price=fill_price)

        with transaction.atomic():
            balances = _lock_balances(self.account, [market.base, market.quote])
            # The client order id is claimed before funds are checked: a retry of an order
            # that went through must hear "duplicate", not "insufficient funds".
            try:
                with transaction.atomic():
                    order.save()
            except IntegrityError:
                raise DuplicateClientOrderIdError(
                    f"Paper account {self.account.pk} already has an order with client order id '{client_order_id}'."
                ) from None
            self._check_funds(balances, market, side=side, amount=amount, price=worst_price)
            if status == PaperOrder.Status.CLOSED:
                self._settle(order, balances, market, from_locked=False)
            elif status == PaperOrder.Status.OPEN:
                self._move_reserved(order, balances, market, lock=True)
        return _result(order)

    def _perpetual_order(self, market: MarketRules, *, side, amount, type, current_price, client_order_id, reduce_only) -> OrderResult:
        if type != "market":
            raise OrderRejectedError("Paper perpetuals take market orders only.")
        amount, _ = apply_order_rules(market, amount=amount, price=None, reference_price=current_price, side=side)
        paper_perpetuals.liquidate_if_due(self.account, market=market, mark=current_price)
        order = paper_perpetuals.order_fill(
            self.account,
            market=market,
            side=side,
            amount=amount,
            fill_price=self._slipped(current_price, side=side),
            client_order_id=client_order_id,
            reduce_only=reduce_only,
            fee_rate=self.fee_rate,
            ledger=_ledger,
        )
        return _result(order)

    # --- perpetuals (exchanges/gateways/paper_perpetuals.py) --------------------------

    def perpetual_settings_apply(self, *, symbol: str, leverage: int, margin_mode: str) -> None:
        market = self.market(symbol)
        if not market.is_perpetual:
            raise UnknownSymbolError(f"{market.symbol} is not a perpetual.")
        paper_perpetuals.settings_apply(self.account, market=market, leverage=leverage, margin_mode=margin_mode)

    def perpetual_free_margin(self, quote: str = QUOTE) -> Decimal:
        balance = self.balance().get(quote)
        return balance.free if balance is not None else ZERO

    def perpetual_positions(self, *, symbols: list[str] | None = None) -> list[FuturesPosition]:
        found = paper_perpetuals.positions(self.account, markets=self.markets(), mark_of=self.ticker_price)
        wanted = {self.market(symbol).symbol for symbol in symbols} if symbols else None
        return [position for position in found if wanted is None or position.symbol in wanted]

    def funding_payments(self, *, symbol: str, since=None) -> list[FundingPayment]:
        """Paper has no funding source: none is paid or received."""
        return []

    def fetch_order_by_client_id(self, *, symbol: str, client_order_id: str) -> OrderResult:
        order = self._order(symbol=symbol, client_order_id=client_order_id)
        if order.status == PaperOrder.Status.OPEN:
            order = self._fill_resting_order(order)
        return _result(order)

    def cancel_order(self, *, symbol: str, client_order_id: str) -> OrderResult:
        order = self._order(symbol=symbol, client_order_id=client_order_id)
        if order.status != PaperOrder.Status.OPEN:
            return _result(order)
        order = self._fill_resting_order(order)
        market = self.market(order.symbol)
        with transaction.atomic():
            balances = _lock_balances(self.account, [market.base, market.quote])
            order = PaperOrder.objects.select_for_update().get(pk=order.pk)
            if order.status == PaperOrder.Status.OPEN:
                self._move_reserved(order, balances, market, lock=False)
                order.status = PaperOrder.Status.CANCELED
                order.save(update_fields=["status"])
        return _result(order)

    def _order(self, *, symbol: str, client_order_id: str) -> PaperOrder:
        unified = resolve_symbol(symbol, self.markets())
        order = PaperOrder.objects.filter(account=self.account, symbol=unified, client_order_id=client_order_id).first()
        if order is None:
            raise OrderNotFoundError(f"Paper account {self.account.pk} has no {unified} order '{client_order_id}'.")
        return order

    def _fill_resting_order(self, order: PaperOrder) -> PaperOrder:
        current_price = self.ticker_price(order.symbol)
        reached = current_price <= order.price if order.side == "buy" else current_price >= order.price
        if not reached:
            return order
        market = self.market(order.symbol)
        with transaction.atomic():
            balances = _lock_balances(self.account, [market.base, market.quote])
            order = PaperOrder.objects.select_for_update().get(pk=order.pk)
            if order.status == PaperOrder.Status.OPEN:
                # A resting order is a maker: it trades at its own price, without slippage.
                self._fill(order, price=order.price)
                order.save(update_fields=["status", "filled", "average_price", "cost", "fee"])
                self._settle(order, balances, market, from_locked=True)
        return order

    def _slipped(self, price: Decimal, *, side: str) -> Decimal:
        factor = 1 + self.slippage_rate if side == "buy" else 1 - self.slippage_rate
        return _ledger(price * factor)

    def _cost_and_fee(self, *, amount: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        cost = _ledger(amount * price)
        return cost, _ledger(cost * self.fee_rate, rounding=ROUND_UP)

    def _check_funds(self, balances: dict[str, PaperBalance], market: MarketRules, *, side: str, amount: Decimal, price: Decimal) -> None:
        if side == "buy":
            cost, fee = self._cost_and_fee(amount=amount, price=price)
            needed, currency = cost + fee, market.quote
        else:
            needed, currency = amount, market.base
        available = balances[currency].free
        if available < needed:
            raise InsufficientFundsError(
                f"Paper account {self.account.pk} has {available} {currency} free; this order needs {needed} {currency}."
            )

    def _fill(self, order: PaperOrder, *, price: Decimal) -> None:
        """Mark the whole order traded at `price` (not saved)."""
        order.status = PaperOrder.Status.CLOSED
        order.filled = order.amount
        order.average_price = price
        order.cost, order.fee = self._cost_and_fee(amount=order.amount, price=price)

    def _settle(self, order: PaperOrder, balances: dict[str, PaperBalance], market: MarketRules, *, from_locked: bool) -> None:
        """Move a filled order's coins and quote, paying from free funds or from its lock."""
        base, quote = balances[market.base], balances[market.quote]
        if order.side == "buy":
            if from_locked:
                reserved, _ = self._reserved(order, market)
                quote.locked -= reserved
                quote.free += reserved - order.cost - order.fee
            else:
                quote.free -= order.cost + order.fee
            base.free += order.amount
        else:
            if from_locked:
                base.locked -= order.amount
            else:
                base.free -= order.amount
            quote.free += order.cost - order.fee
        for row in (base, quote):
            row.save(update_fields=["free", "locked"])

    def _reserved(self, order: PaperOrder, market: MarketRules) -> tuple[Decimal, str]:
        """What a resting order locks: a buy its cost and fee at the limit, a sell its coins.

        Recomputed on release rather than stored: the fee rate is a deployment setting,
        constant while an order rests.
        """
        if order.side == "buy":
            cost, fee = self._cost_and_fee(amount=order.amount, price=order.price)
            return cost + fee, market.quote
        return order.amount, market.base

    def _move_reserved(self, order: PaperOrder, balances: dict[str, PaperBalance], market: MarketRules, *, lock: bool) -> None:
        amount, currency = self._reserved(order, market)
        if not lock:
            amount = -amount
        row = balances[currency]
        row.free -= amount
        row.locked += amount
        row.save(update_fields=["free", "locked"])


@transaction.atomic
def paper_account_fund(*, account: ExchangeAccount, balances: dict[str, Decimal]) -> None:
    """Set the free balance of each given currency (a paper account's starting money).

    Currencies not named keep their balance; funds locked by resting orders stay locked.
    """
    if not account.is_paper:
        raise ValidationError({"account": f"{account!r} is not a paper account."})
    rows = []
    for currency, amount in balances.items():
        amount = to_decimal(amount)
        if not amount.is_finite() or amount < 0:
            raise ValidationError({"balances": f"{currency} balance must be zero or more, not {amount}."})
        row = PaperBalance(account=account, currency=currency.strip().upper(), free=amount)
        row.full_clean(validate_unique=False, validate_constraints=False)
        rows.append(row)
    PaperBalance.objects.bulk_create(rows, update_conflicts=True, unique_fields=["account", "currency"], update_fields=["free"])


def _check_order_shape(*, side: str, type: str, price, time_in_force: str | None, client_order_id: str) -> None:
    if side not in PaperOrder.Side.values:
        raise OrderRejectedError(f"Order side must be buy or sell, not {side!r}.")
    if type not in PaperOrder.Type.values:
        raise OrderRejectedError(f"Order type must be market or limit, not {type!r}.")
    if type == "limit" and price is None:
        raise OrderRejectedError("A limit order needs a price.")
    if type == "market" and price is not None:
        raise OrderRejectedError("A market order takes no price; send a limit order to cap the price.")
    if time_in_force not in TIME_IN_FORCE:
        raise OrderRejectedError(f"Time in force must be GTC, IOC or FOK, not {time_in_force!r}.")
    if not client_order_id or len(client_order_id) > MAX_CLIENT_ORDER_ID_LENGTH:
        raise OrderRejectedError(f"Client order id must be 1 to {MAX_CLIENT_ORDER_ID_LENGTH} characters.")


def _lock_balances(account: ExchangeAccount, currencies: list[str]) -> dict[str, PaperBalance]:
    """Lock the account's rows for these currencies, creating missing ones at zero.

    Always in currency order: two orders locking BTC and USDT never deadlock.
    """
    currencies = sorted(set(currencies))
    PaperBalance.objects.bulk_create([PaperBalance(account=account, currency=currency) for currency in currencies], ignore_conflicts=True)
    rows = PaperBalance.objects.select_for_update().filter(account=account, currency__in=currencies).order_by("currency")
    return {row.currency: row for row in rows}


def _ledger(value: Decimal, *, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    return value.quantize(LEDGER_STEP, rounding=rounding)


def _result(order: PaperOrder) -> OrderResult:
    return OrderResult(
        exchange_order_id=str(order.pk),
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        status=str(order.status),
        amount=order.amount,
        filled=order.filled,
        average_price=order.average_price,
        cost=order.cost,
        fee=order.fee,
        fee_currency=order.fee_currency,
        timestamp=order.created_at,
    )
