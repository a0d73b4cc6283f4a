"""Writes for strategies (leaders): create, change, rotate the webhook secret."""

import logging
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from copytrade.events import copying_open_requested
from copytrade.models import Copy, Strategy, new_webhook_secret
from core.errors import ConflictError, NotFoundError
from core.locks import user_row_lock
from exchanges.models import ExchangeAccount

logger = logging.getLogger(__name__)


# What decides the fee terms of a copy (marketplace.terms): fixed once the strategy has been
# copied, so no request can change what existing copies pay (their terms are recorded at start).
TERMS_FIELDS = ("kind", "copy_override_percent")
STRATEGY_UPDATABLE_FIELDS = {
    "name",
    "description",
    "kind",
    "source",
    "status",
    "is_public_leader",
    "copy_override_percent",
    "declared_capital",
}


def _now_ms() -> int:
    return int(timezone.now().timestamp() * 1000)


@transaction.atomic
def strategy_create(
    *,
    owner,
    name: str,
    kind: str = Strategy.Kind.MANUAL,
    description: str = "",
    leader_account_id: int | None = None,
    declared_capital: Decimal | None = None,
    source: str = Strategy.Source.WEBHOOK,
    is_public_leader: bool = False,
    copy_override_percent: Decimal = Decimal("15"),
) -> Strategy:
    """A new strategy; `strategy.webhook_secret` is shown to its owner once, in the create response."""
    if (leader_account_id is None) == (declared_capital is None):
        raise ValidationError(
            {"leader_account_id": "Give either leader_account_id (a linked exchange account) or declared_capital (signal-only)."}
        )
    user_row_lock(user_id=owner.pk)
    copying_open_requested.send(sender=Strategy, owner=owner, creating=True)
    if Strategy.objects.filter(owner=owner).count() >= settings.USER_MAX_STRATEGIES:
        raise ConflictError(f"You have {settings.USER_MAX_STRATEGIES} strategies, the most one user may have.")
    leader_account = _leader_account(owner=owner, account_id=leader_account_id) if leader_account_id is not None else None
    strategy = Strategy(
        owner=owner,
        name=name,
        kind=kind,
        description=description,
        leader_account=leader_account,
        declared_capital=declared_capital,
        source=source,
        is_public_leader=is_public_leader,
        copy_override_percent=copy_override_percent,
    )
    _validate_source(strategy)
    if strategy.source == Strategy.Source.EXCHANGE_SYNC:
        # Sync starts now: fills from before the strategy existed were never signals.
        strategy.sync_cursor_ms = _now_ms()
    strategy.full_clean()
    strategy.save()
    logger.info("strategy %s created by user %s", strategy.pk, owner.pk)
    return strategy


def _leader_account(*, owner, account_id: int) -> ExchangeAccount:
    account = ExchangeAccount.objects.filter(id=account_id, owner=owner).first()
    if account is None:
        raise NotFoundError("Exchange account not found.")
    if account.status != ExchangeAccount.Status.ACTIVE:
        raise ConflictError(
            f"Exchange account '{account.label}' is {account.status}: {account.get_status_reason_display() or 'reconnect it first'}."
        )
    leading = Strategy.objects.filter(leader_account=account).first()
    if leading is not None:
        # Two strategies on one account would each claim the whole account's equity and fills.
        raise ConflictError(f"Exchange account '{account.label}' already leads strategy '{leading.name}'.")
    copy = Copy.objects.filter(exchange_account=account, status__in=Copy.LIVE_STATUSES).select_related("strategy").first()
    if copy is not None:
        # An account leads or is copied onto, never both: its copied orders would be its
        # strategy's trades, copied on again (a loop, issue 32). The owner's row lock, held
        # here and by copy start, keeps the two from passing each other.
        raise ConflictError(
            f"Exchange account '{account.label}' copies '{copy.strategy.name}': an account either leads a strategy or "
            "receives copies, never both. Stop that copy or link another account."
        )
    return account


def _validate_source(strategy: Strategy) -> None:
    if strategy.source != Strategy.Source.EXCHANGE_SYNC:
        return
    if strategy.leader_account is None or strategy.leader_account.is_paper:
        raise ValidationError({"source": "exchange_sync needs a linked real exchange account to read fills from."})


def _owned_strategy_locked(*, owner, strategy_id: int) -> Strategy:
    # `of=self`: the leader account is an outer join, and PostgreSQL cannot lock its nullable side.
    strategy = Strategy.objects.select_for_update(of=("self",)).select_related("leader_account").filter(id=strategy_id, owner=owner).first()
    if strategy is None:
        raise NotFoundError("Strategy not found.")
    return strategy


@transaction.atomic
def strategy_update(*, owner, strategy_id: int, data: dict) -> Strategy:
    unknown = set(data) - STRATEGY_UPDATABLE_FIELDS
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field cannot be changed."})
    strategy = _owned_strategy_locked(owner=owner, strategy_id=strategy_id)
    _check_terms_unchanged_once_copied(strategy=strategy, data=data)
    if "declared_capital" in data:
        if strategy.leader_account_id is not None:
            raise ValidationError({"declared_capital": "This strategy's capital is its leader account's equity."})
        if data["declared_capital"] is None:
            raise ValidationError({"declared_capital": "A signal-only strategy needs a declared capital."})
    previous_source = strategy.source
    for field, value in data.items():
        setattr(strategy, field, value)
    _validate_source(strategy)
    if strategy.source == Strategy.Source.EXCHANGE_SYNC and previous_source != Strategy.Source.EXCHANGE_SYNC:
        strategy.sync_cursor_ms = _now_ms()
    strategy.full_clean()
    strategy.save()
    return strategy


# What else a copy was started against: its multiplier was checked against the platform's
# cap at the leader's capital (USER_MAX_MULTIPLIER_NOTIONAL), and proportional sizes divide by it.
SIZING_BASE_FIELDS = ("declared_capital",)


def _check_terms_unchanged_once_copied(*, strategy: Strategy, data: dict) -> None:
    changing = [name for name in (*TERMS_FIELDS, *SIZING_BASE_FIELDS) if name in data and data[name] != getattr(strategy, name)]
    if changing and Copy.objects.filter(strategy=strategy).exists():
        raise ValidationError(
            {
                name: f"'{strategy.name}' has been copied: its {name} decides "
                f"{'what its copies pay' if name in TERMS_FIELDS else 'the size of its copies’ orders'} and cannot change. "
                "Create a new strategy for other terms."
                for name in changing
            }
        )


@transaction.atomic
def strategy_webhook_secret_rotate(*, owner, strategy_id: int) -> Strategy:
    """A new webhook secret; the old one stops working as this commits."""
    strategy = _owned_strategy_locked(owner=owner, strategy_id=strategy_id)
    strategy.webhook_secret = new_webhook_secret()
    strategy.save(update_fields=["webhook_secret", "updated_at"])
    logger.info("strategy %s webhook secret rotated", strategy.pk)
    return strategy
