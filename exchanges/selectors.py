"""Reads for exchange accounts: a user only ever sees their own."""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from core.errors import NotFoundError
from exchanges.errors import ExchangeError
from exchanges.gateways import gateway_for_account
from exchanges.models import ConnectableExchange, ExchangeAccount

logger = logging.getLogger(__name__)

READING_QUOTE = "USDT"


@dataclass(frozen=True)
class AccountReading:
    """What the account held when it was last read: equity (cash plus holdings marked at the
    last price) and free cash in `quote`; or, when the exchange did not answer, why (in words)."""

    read_at: datetime
    quote: str = READING_QUOTE
    equity: Decimal | None = None
    free: Decimal | None = None
    problem: str = ""


def exchange_account_reading(*, account: ExchangeAccount) -> AccountReading:
    """The account's balance and equity through its gateway (ccxt or paper), cached for
    EXCHANGE_ACCOUNT_READING_SECONDS: a page of accounts costs the exchange one balance call
    per account per that long, and says when each figure was read."""
    if account.status != ExchangeAccount.Status.ACTIVE:  # its key was refused: asking again cannot help
        return AccountReading(read_at=account.updated_at, problem=account.get_status_reason_display())
    key = f"exchange-account-reading:{account.pk}:{account.updated_at.timestamp()}"
    reading = cache.get(key)
    if reading is None:
        try:
            equity = gateway_for_account(account).equity(READING_QUOTE)
            reading = AccountReading(read_at=timezone.now(), equity=equity.equity, free=equity.free_quote)
        except ExchangeError as exc:
            logger.info("exchange account %s not read: %s (%s)", account.pk, exc.reason, exc.detail)
            reading = AccountReading(read_at=timezone.now(), problem=exc.message)
        cache.set(key, reading, settings.EXCHANGE_ACCOUNT_READING_SECONDS)
    return reading


def exchange_account_list(*, owner) -> QuerySet[ExchangeAccount]:
    return ExchangeAccount.objects.filter(owner=owner).prefetch_related("paper_balances").order_by("id")


def exchange_account_get(*, owner, account_id: int) -> ExchangeAccount:
    account = exchange_account_list(owner=owner).filter(id=account_id).first()
    if account is None:
        raise NotFoundError("Exchange account not found.")
    return account


def exchange_account_key_warning(*, account: ExchangeAccount) -> str:
    """Advice for a key the exchange says works from any address: limit it to the platform's
    (settings.EXCHANGE_EGRESS_ADDRESSES). "" when it is limited, or the exchange does not tell."""
    if account.ip_restricted is not False:
        return ""
    addresses = settings.EXCHANGE_EGRESS_ADDRESSES
    where = (
        f"the platform's addresses: {', '.join(addresses)}"
        if addresses
        else "the platform's addresses (the operator has not published them yet: ask support for them)"
    )
    exchange = dict(ConnectableExchange.choices).get(account.exchange_id, account.exchange_id)
    return f"This API key works from any internet address. On {exchange}, limit it to {where}; then a leaked key is useless elsewhere."
