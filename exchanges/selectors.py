"""Reads for exchange accounts: a user only ever sees their own."""

from django.db.models import QuerySet

from core.errors import NotFoundError
from exchanges.models import ExchangeAccount


def exchange_account_list(*, owner) -> QuerySet[ExchangeAccount]:
    return ExchangeAccount.objects.filter(owner=owner).prefetch_related("paper_balances").order_by("id")


def exchange_account_get(*, owner, account_id: int) -> ExchangeAccount:
    account = exchange_account_list(owner=owner).filter(id=account_id).first()
    if account is None:
        raise NotFoundError("Exchange account not found.")
    return account
