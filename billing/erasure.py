"""Deleting users and everything they own, dependents first (the demo and the benchmark
reset their own users with it; an operator's account erasure would too)."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q


def users_delete(*, username_prefix: str) -> int:
    """Delete the users whose names start with `username_prefix` and all their data:
    billing, marketplace, copies and the copies of their strategies, trades, accounts."""
    from billing.models import AssessedTrade, BillingAccount, FeeAssessment, FeeState, Invoice, InvoiceLine, Payout
    from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderPosition, LeaderTrade, Strategy
    from core.models import GroupedMail, Notification
    from exchanges.models import ExchangeAccount
    from marketplace.models import CopyFeeTerms, ProviderMetrics, Rating, SignalProvider, StrategyMetrics, TradeVerification
    from marketplace.services import provider_events_purge

    if not username_prefix:
        raise ValueError("a username prefix is required")
    users = get_user_model().objects.filter(username__startswith=username_prefix)
    strategies = Strategy.objects.filter(owner__in=users)
    copies = Copy.objects.filter(Q(follower__in=users) | Q(strategy__in=strategies))
    providers = SignalProvider.objects.filter(user__in=users)
    with transaction.atomic():
        InvoiceLine.objects.filter(Q(invoice__follower__in=users) | Q(payee__in=users)).delete()
        Payout.objects.filter(payee__in=users).delete()
        Invoice.objects.filter(follower__in=users).delete()
        AssessedTrade.objects.filter(assessment__copy__in=copies).delete()
        FeeAssessment.objects.filter(copy__in=copies).delete()
        FeeState.objects.filter(Q(follower__in=users) | Q(strategy__in=strategies)).delete()
        BillingAccount.objects.filter(user__in=users).delete()
        provider_events_purge(provider_ids=list(providers.values_list("id", flat=True)))
        Rating.objects.filter(Q(user__in=users) | Q(provider__in=providers)).delete()
        ProviderMetrics.objects.filter(provider__in=providers).delete()
        TradeVerification.objects.filter(strategy__in=strategies).delete()
        StrategyMetrics.objects.filter(strategy__in=strategies).delete()
        CopiedTrade.objects.filter(copy__in=copies).delete()
        FollowerPosition.objects.filter(copy__in=copies).delete()
        CopyFeeTerms.objects.filter(copy__in=copies).delete()
        copies.delete()
        LeaderTrade.objects.filter(strategy__in=strategies).delete()
        LeaderPosition.objects.filter(strategy__in=strategies).delete()
        providers.delete()
        strategies.delete()
        ExchangeAccount.objects.filter(owner__in=users).delete()
        Notification.objects.filter(user__in=users).delete()
        GroupedMail.objects.filter(user__in=users).delete()
        deleted, _ = users.delete()
    return deleted
