"""Circuit breakers: a strategy whose record says stop takes no new copies.

A strategy of a provider whose current drawdown (from the peak of its whole equity curve to
its latest close, as stored by `marketplace.track_record`) exceeds the limit of the
provider's risk level (`settings.CIRCUIT_BREAKER_MAX_DRAWDOWN`), or that has an open
verification flag (`marketplace.verification`), stops taking new copies; its provider is
flagged for review; its followers and the curators are told. A breaker trips once: it stays
open until a curator clears the provider's review flag (or reinstates a suspended provider),
which reopens its strategies.
"""

import logging
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from copytrade.models import Copy, Strategy
from core.models import Notification
from core.notifications import notification_send_many
from marketplace.models import MetricsWindow, ProviderEvent, SignalProvider, StrategyMetrics, TradeVerification
from marketplace.services import curators_notify, provider_event_record

logger = logging.getLogger(__name__)


def strategy_circuit_breaker_check(*, strategy_id: int) -> str | None:
    """Trip the strategy's breaker if its drawdown or verification says so; the reason, or None."""
    strategy = Strategy.objects.filter(id=strategy_id, accepting_copies=True).first()
    if strategy is None:
        return None
    provider = SignalProvider.objects.filter(user_id=strategy.owner_id).first()
    if provider is None:
        return None
    reason = _breaker_reason(strategy=strategy, provider=provider)
    if reason is None:
        return None
    return reason if strategy_circuit_break(strategy_id=strategy.pk, reason=reason) else None


def _breaker_reason(*, strategy: Strategy, provider: SignalProvider) -> str | None:
    limit = settings.CIRCUIT_BREAKER_MAX_DRAWDOWN[provider.risk_level]
    latest = StrategyMetrics.objects.filter(strategy=strategy, window=MetricsWindow.ALL).first()
    if latest is not None and latest.current_drawdown is not None and Decimal(repr(latest.current_drawdown)) > limit:
        return f"drawdown {latest.current_drawdown:.2f} % exceeds the {limit} % limit of a {provider.risk_level}-risk provider"
    flags = TradeVerification.objects.filter(strategy=strategy, status=TradeVerification.Status.MISMATCH, resolved_at__isnull=True).count()
    if flags:
        return f"{flags} trade(s) failed track-record verification"
    return None


@transaction.atomic
def strategy_circuit_break(*, strategy_id: int, reason: str) -> bool:
    """Stop the strategy taking new copies, flag its provider, tell followers and curators.

    The conditional update makes a breaker trip once: a second run finds it open already.
    """
    owner_id = Strategy.objects.filter(id=strategy_id).values_list("owner_id", flat=True).first()
    if owner_id is None:
        return False
    # Provider before strategy: the lock order of marketplace.services.
    provider = SignalProvider.objects.select_for_update().filter(user_id=owner_id).first()
    if not Strategy.objects.filter(id=strategy_id, accepting_copies=True).update(accepting_copies=False, updated_at=timezone.now()):
        return False
    strategy = Strategy.objects.get(id=strategy_id)
    if provider is not None:
        provider.needs_review = True
        provider.review_reason = f"circuit breaker on '{strategy.name}': {reason}"[:255]
        provider.save(update_fields=["needs_review", "review_reason", "updated_at"])
        provider_event_record(
            provider=provider,
            actor=None,
            action=ProviderEvent.Action.CIRCUIT_BREAKER,
            field="accepting_copies",
            from_value="True",
            to_value="False",
            reason=f"strategy '{strategy.name}' (id {strategy.pk}): {reason}",
        )
    follower_ids = Copy.objects.filter(strategy=strategy, status__in=Copy.LIVE_STATUSES).values_list("follower_id", flat=True)
    notification_send_many(
        users=get_user_model().objects.filter(id__in=set(follower_ids)).order_by("id"),
        kind=Notification.Kind.CIRCUIT_BREAKER,
        title=f"Circuit breaker: {strategy.name} takes no new copies",
        body=f"{reason}. Your copy keeps mirroring the leader's reductions and closes; curators are reviewing the provider.",
    )
    curators_notify(
        kind=Notification.Kind.CIRCUIT_BREAKER,
        title=f"Circuit breaker tripped: {strategy.name}",
        body=f"Provider {provider.display_name if provider else strategy.owner_id}: {reason}. Review the provider in admin.",
    )
    logger.info("circuit breaker on strategy %s: %s", strategy.pk, reason)
    return True
