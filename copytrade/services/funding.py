"""Funding of perpetual positions: read from each exchange account per symbol, recorded once
per payment (the exchange's id) and per copy, and added to the copy's realised P&L like a
fill's, so it is in the copy's equity, drawdown and fees (in the billing currency at the
rate when it is recorded).

Which copy a payment belongs to: the account's copies holding the symbol when the payment
is read, by the size they hold (one copy per account and symbol is the usual case). A
position closed before its last payment was read gets that payment through the copy that
traded the symbol last on the account.
"""

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from copytrade.currency import quote_rate_at_fill
from copytrade.locks import copy_lock
from copytrade.models import Copy, FollowerPosition, FundingPayment
from copytrade.positions import copy_apply_pnl
from core.money import ZERO, to_money
from exchanges.errors import ExchangeError
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount
from exchanges.types import FundingPayment as ExchangeFunding

logger = logging.getLogger(__name__)

# Positions closed longer ago than this have no funding left to read.
RECENT_POSITIONS = timedelta(days=1)


def funding_accounts_sync() -> int:
    """Every account with a perpetual position of a live copy, or one closed lately: the
    payments recorded now."""
    since = timezone.now() - RECENT_POSITIONS
    account_ids = (
        FollowerPosition.objects.filter(symbol__contains=":")
        .filter(~Q(quantity=0) | Q(updated_at__gte=since))
        .values_list("copy__exchange_account_id", flat=True)
        .distinct()
    )
    recorded = 0
    for account_id in account_ids:
        try:
            recorded += funding_account_sync(account_id=account_id)
        except ExchangeError as exc:  # one account's exchange being down must not stop the others
            logger.warning("funding of account %s not read: %s", account_id, exc.reason)
    return recorded


def funding_account_sync(*, account_id: int) -> int:
    """Read and record the funding of each perpetual the account's copies hold or held lately."""
    account = ExchangeAccount.objects.filter(pk=account_id, status=ExchangeAccount.Status.ACTIVE).first()
    if account is None:
        return 0
    since = timezone.now() - RECENT_POSITIONS
    positions = list(
        FollowerPosition.objects.filter(copy__exchange_account=account, symbol__contains=":")
        .filter(~Q(quantity=0) | Q(updated_at__gte=since))
        .select_related("copy")
    )
    gateway = gateway_for_account(account)
    recorded = 0
    for symbol in sorted({position.symbol for position in positions}):
        holders = [p for p in positions if p.symbol == symbol]
        last = FundingPayment.objects.filter(copy__exchange_account=account, symbol=symbol).aggregate(at=Max("paid_at"))["at"]
        started = min(p.copy.started_at for p in holders)
        payments = gateway.funding_payments(symbol=symbol, since=last or started)
        if not payments:
            continue
        market = gateway.market(symbol)
        rate = quote_rate_at_fill(gateway=gateway, market=market)  # network before the transactions
        for payment in payments:
            recorded += _record(payment, holders=holders, rate=rate)
    return recorded


def _shares(payment: ExchangeFunding, holders: list[FollowerPosition]) -> list[tuple[int, Decimal]]:
    """(copy id, its part of the payment): by size held, the last part the remainder."""
    holding = [p for p in holders if p.quantity != 0]
    if not holding:
        latest = max(holders, key=lambda p: p.updated_at)
        return [(latest.copy_id, payment.amount)]
    total = sum(abs(p.quantity) for p in holding)
    parts = [(p.copy_id, to_money(payment.amount * abs(p.quantity) / total)) for p in holding[:-1]]
    parts.append((holding[-1].copy_id, payment.amount - sum(part for _, part in parts)))
    return parts


def _record(payment: ExchangeFunding, *, holders: list[FollowerPosition], rate: Decimal | None) -> int:
    recorded = 0
    for copy_id, amount in _shares(payment, holders):
        with transaction.atomic():
            copy = copy_lock(copy_id=copy_id)
            if copy is None:
                continue
            if FundingPayment.objects.filter(copy=copy, symbol=payment.symbol, exchange_payment_id=payment.payment_id).exists():
                continue  # read before: recorded once
            amount = to_money(amount)
            FundingPayment.objects.create(
                copy=copy,
                symbol=payment.symbol,
                exchange_payment_id=payment.payment_id,
                amount_quote=amount,
                quote_currency=payment.currency.upper(),
                quote_rate=rate,
                amount_billing=to_money(amount * rate) if rate is not None else ZERO,
                paid_at=payment.timestamp,
            )
            _copy_add_funding(copy, symbol=payment.symbol, amount=amount)
            recorded += 1
    return recorded


def _copy_add_funding(copy: Copy, *, symbol: str, amount: Decimal) -> None:
    """Funding is realised P&L of the copy and its position; the unrealised part of the copy's
    equity is kept as the last mark left it."""
    unrealised = copy.copy_equity - copy.copy_capital - copy.realized_pnl
    copy_apply_pnl(copy, pnl=amount, unrealised=unrealised)
    copy.save(update_fields=["realized_pnl", "copy_equity", "peak_equity", "current_drawdown_percent", "updated_at"])
    position = FollowerPosition.objects.select_for_update().filter(copy=copy, symbol=symbol).first()
    if position is not None:
        position.realized_pnl = to_money(position.realized_pnl + amount)
        position.save(update_fields=["realized_pnl", "updated_at"])
