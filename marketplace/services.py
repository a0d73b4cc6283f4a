"""Writes for the marketplace: applications, curation, ratings.

Metrics live in `marketplace.track_record`, verification in `marketplace.verification`, circuit
breakers in `marketplace.breakers`.

Provider lifecycle (the only legal transitions; anything else is a 409 and changes nothing):

    pending   --approve-->   approved        curator
    pending   --reject--->   rejected        curator
    approved  --suspend-->   suspended       curator
    suspended --reinstate--> approved        curator
    rejected  --reapply--->  pending         the provider, by applying again

A rejected provider may apply again (a fixed profile deserves a second look); a suspended
one may not go back to pending by itself: only a curator reinstates. Every transition writes
a `ProviderEvent` (who, from, to, why) and tells the people concerned.

Lock order: the user row, then the provider row, then strategies, then copies.
"""

import importlib
import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, DecimalField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from rest_framework import status

from copytrade.copy_settings import RECOMMENDABLE
from copytrade.locks import strategies_and_copies_lock, strategies_lock
from copytrade.models import CopiedTrade, Copy, LeaderTrade, Strategy
from copytrade.services.copies import copy_settings_validate
from core.audit import audit_record
from core.errors import ApplicationError, ConflictError, NotFoundError
from core.locks import user_row_lock
from core.models import AuditEntry, Notification
from core.money import cents_text, format_money
from core.notifications import notification_send, notification_send_many
from core.roles import role_sync
from core.terms import FeeTerms
from core.verification import user_email_verified_require
from marketplace.models import (
    DISPLAY_NAME_TAKEN,
    CopyFeeTerms,
    InvitedCopy,
    ProviderEvent,
    Rating,
    SignalProvider,
    StrategyCapacity,
    StrategyInvitation,
    StrategyRecommendation,
)
from marketplace.terms import copy_fee_terms, effective_period_after_notice, fee_terms_in_words, fee_terms_offered, first_period

logger = logging.getLogger(__name__)

CURATORS_GROUP = "curators"
CURATE_PERMISSION = "marketplace.curate_signalprovider"
PROFILE_FIELDS = (
    "display_name",
    "description",
    "trading_strategy",
    "risk_level",
    "subscription_fee_monthly",
    "performance_fee_percent",
    "is_public",
)

Status = SignalProvider.Status
Action = ProviderEvent.Action

# action -> (the statuses it may start from, the status it leads to)
CURATOR_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    Action.APPROVE: ((Status.PENDING,), Status.APPROVED),
    Action.REJECT: ((Status.PENDING,), Status.REJECTED),
    Action.SUSPEND: ((Status.APPROVED,), Status.SUSPENDED),
    Action.REINSTATE: ((Status.SUSPENDED,), Status.APPROVED),
}


def curator_users():
    """Active members of the `curators` group: who hears of applications and flags."""
    return get_user_model().objects.filter(groups__name=CURATORS_GROUP, is_active=True).distinct().order_by("id")


def curators_group():
    """The `curators` group with exactly its permissions (migration 0008 defines them; this
    puts the group back where a database was flushed, and is how tools like the demo find it)."""
    role = importlib.import_module("marketplace.migrations.0008_curator_role")
    return role_sync(name=CURATORS_GROUP, permissions=role.PERMISSIONS)


def is_curator(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(CURATE_PERMISSION))


def curators_notify(*, kind: str, title: str, body: str) -> int:
    curators = list(curator_users())
    if not curators:
        logger.warning("no curator to tell: %s", title)
    return notification_send_many(users=curators, kind=kind, title=title, body=body)


def provider_event_record(
    *, provider: SignalProvider, actor, action: str, field: str = "", from_value: str = "", to_value: str = "", reason: str = ""
) -> ProviderEvent:
    event = ProviderEvent(
        provider=provider,
        actor=actor,
        action=action,
        field=field,
        from_value=str(from_value)[:255],
        to_value=str(to_value)[:255],
        reason=reason,
    )
    event.full_clean()
    event.save()
    return event


def _provider_locked(*, provider_id: int) -> SignalProvider:
    provider = SignalProvider.objects.select_for_update(of=("self",)).select_related("user").filter(id=provider_id).first()
    if provider is None:
        raise NotFoundError("Provider not found.")
    return provider


# --- Applications ----------------------------------------------------------------------


@transaction.atomic
def provider_apply(
    *,
    user,
    display_name: str,
    description: str = "",
    trading_strategy: str = "",
    risk_level: str = SignalProvider.RiskLevel.MEDIUM,
    subscription_fee_monthly: Decimal = Decimal("0"),
    performance_fee_percent: Decimal = Decimal("0"),
    is_public: bool = True,
) -> SignalProvider:
    """Apply to become a provider (pending), or apply again after a rejection."""
    user_email_verified_require(user=user, to="apply as a signal provider")
    user_row_lock(user_id=user.pk)
    profile = {
        "display_name": display_name,
        "description": description,
        "trading_strategy": trading_strategy,
        "risk_level": risk_level,
        "subscription_fee_monthly": subscription_fee_monthly,
        "performance_fee_percent": performance_fee_percent,
        "is_public": is_public,
    }
    now = timezone.now()
    provider = SignalProvider.objects.select_for_update().filter(user=user).first()
    if provider is None:
        provider = SignalProvider(user=user, status=Status.PENDING, status_changed_at=now, **profile)
        action, from_status = Action.APPLY, ""
    elif provider.status == Status.REJECTED:
        terms_changed = any(
            Decimal(profile[name]) != getattr(provider, name) for name in ("subscription_fee_monthly", "performance_fee_percent")
        )
        for name, value in profile.items():
            setattr(provider, name, value)
        provider.status = Status.PENDING
        provider.status_changed_at = now
        action, from_status = Action.REAPPLY, Status.REJECTED
    else:
        raise ConflictError(f"You already have a provider profile ({provider.status}).", {"status": provider.status})
    provider.full_clean()
    try:
        with transaction.atomic():
            provider.save()
    except IntegrityError as exc:
        if "provider_display_name_unique" in str(exc):  # another applicant took the name meanwhile
            raise ValidationError({"display_name": DISPLAY_NAME_TAKEN}) from exc
        raise ConflictError("You already have a provider profile.") from exc
    provider_event_record(provider=provider, actor=user, action=action, field="status", from_value=from_status, to_value=Status.PENDING)
    if action == Action.REAPPLY and terms_changed:
        copies_terms_reoffer(owner_id=user.pk)
    curators_notify(
        kind=Notification.Kind.PROVIDER_APPLICATION,
        title=f"New signal provider application: {provider.display_name}",
        body=(
            f"{user.get_username()} applied as '{provider.display_name}' (risk {provider.risk_level}, "
            f"subscription {format_money(provider.subscription_fee_monthly, settings.BILLING_CURRENCY)} a month, "
            f"performance fee {provider.performance_fee_percent.normalize():f} %). "
            "Review it in admin: Marketplace > Signal providers."
        ),
    )
    logger.info("provider %s %s (user %s)", provider.pk, action, user.pk)
    return provider


# --- Curation --------------------------------------------------------------------------


@transaction.atomic
def provider_transition(*, provider_id: int, action: str, actor, reason: str) -> SignalProvider:
    """A curator's decision: approve, reject, suspend or reinstate, with a reason.

    Suspension closes the provider's strategies to new copies and pauses their active
    copies (exits are still mirrored by the engine: a paused copy only refuses entries);
    reinstatement opens the strategies again and clears the review flag. Followers paused
    by a suspension resume themselves: resuming is their decision, not the curator's.
    """
    if action not in CURATOR_ACTIONS:
        raise ApplicationError(f"Unknown action '{action}'.", {"allowed": list(CURATOR_ACTIONS)})
    if not is_curator(actor):
        raise ApplicationError("Only curators decide on providers.", status_code=status.HTTP_403_FORBIDDEN)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("A reason is required.", {"fields": {"reason": ["This field is required."]}})
    provider = _provider_locked(provider_id=provider_id)
    allowed_from, target = CURATOR_ACTIONS[action]
    if provider.status not in allowed_from:
        raise ConflictError(
            f"Cannot {action} a provider that is {provider.status}.",
            {"status": provider.status, "action": action},
        )
    previous = provider.status
    provider.status = target
    provider.status_changed_at = timezone.now()
    update_fields = ["status", "status_changed_at", "updated_at"]
    if action == Action.REINSTATE:
        provider.needs_review = False
        provider.review_reason = ""
        update_fields += ["needs_review", "review_reason"]
    provider.save(update_fields=update_fields)
    provider_event_record(
        provider=provider, actor=actor, action=action, field="status", from_value=previous, to_value=target, reason=reason
    )
    audit_record(
        action=AuditEntry.Action.PROVIDER_DECIDED,
        target=provider,
        before={"status": previous},
        after={"status": target, "decision": action, "reason": reason},
        actor=actor,
    )

    if action == Action.SUSPEND:
        _provider_strategies_close(provider=provider, reason=reason)
    elif action == Action.REINSTATE:
        _provider_strategies_reopen(provider=provider)

    notification_send(
        user=provider.user,
        kind=Notification.Kind.PROVIDER_DECISION,
        title=f"Your signal provider profile was {_past_tense(action)}",
        body=f"'{provider.display_name}' is now {target}. Reason: {reason}",
    )
    logger.info("provider %s %s -> %s by %s", provider.pk, previous, target, actor.pk)
    return provider


def _past_tense(action: str) -> str:
    return {"approve": "approved", "reject": "rejected", "suspend": "suspended", "reinstate": "reinstated"}[action]


def _provider_strategies_close(*, provider: SignalProvider, reason: str) -> None:
    strategy_ids, live = strategies_and_copies_lock(
        strategy_ids=Strategy.objects.filter(owner_id=provider.user_id).values_list("id", flat=True),
        copy_statuses=Copy.LIVE_STATUSES,
    )
    Strategy.objects.filter(id__in=strategy_ids).update(accepting_copies=False, updated_at=timezone.now())
    paused = Copy.objects.filter(
        id__in=[pk for pk, _, copy_status in live if copy_status == Copy.Status.ACTIVE],
        status=Copy.Status.ACTIVE,
    ).update(
        status=Copy.Status.PAUSED,
        pause_reason=Copy.PauseReason.PROVIDER_SUSPENDED,
        pause_detail={},
        updated_at=timezone.now(),
    )
    followers = get_user_model().objects.filter(id__in={follower_id for _, follower_id, _ in live}).order_by("id")
    notification_send_many(
        users=followers,
        kind=Notification.Kind.PROVIDER_SUSPENDED,
        title=f"Provider {provider.display_name} was suspended: your copy is paused",
        body=(
            f"Curators suspended '{provider.display_name}'. Reason: {reason}. Your copy takes no new entries; "
            "reductions and closes of what it holds are still mirrored."
        ),
    )
    logger.info("provider %s suspended: %s strategies closed, %s copies paused", provider.pk, len(strategy_ids), paused)


def _provider_strategies_reopen(*, provider: SignalProvider) -> None:
    strategy_ids = strategies_lock(strategy_ids=Strategy.objects.filter(owner_id=provider.user_id).values_list("id", flat=True))
    Strategy.objects.filter(id__in=strategy_ids).update(accepting_copies=True, updated_at=timezone.now())
    follower_ids = set(
        Copy.objects.filter(
            strategy_id__in=strategy_ids,
            status=Copy.Status.PAUSED,
            pause_reason=Copy.PauseReason.PROVIDER_SUSPENDED,
        ).values_list("follower_id", flat=True)
    )
    notification_send_many(
        users=get_user_model().objects.filter(id__in=follower_ids).order_by("id"),
        kind=Notification.Kind.PROVIDER_DECISION,
        title=f"Provider {provider.display_name} was reinstated",
        body="You can resume your paused copy whenever you want.",
    )


@transaction.atomic
def provider_review_clear(*, provider_id: int, actor, reason: str) -> SignalProvider:
    """A curator looked at a flagged provider and clears the review flag.

    For an approved provider this also reopens the strategies a circuit breaker closed: the
    review is the decision that they may take new copies again. A suspended provider stays
    closed until it is reinstated.
    """
    if not is_curator(actor):
        raise ApplicationError("Only curators clear reviews.", status_code=status.HTTP_403_FORBIDDEN)
    provider = _provider_locked(provider_id=provider_id)
    if not provider.needs_review:
        raise ConflictError("This provider is not flagged for review.")
    previous = provider.review_reason
    provider.needs_review = False
    provider.review_reason = ""
    provider.save(update_fields=["needs_review", "review_reason", "updated_at"])
    provider_event_record(
        provider=provider, actor=actor, action=Action.REVIEW_CLEARED, field="needs_review", from_value=previous, to_value="", reason=reason
    )
    if provider.status == Status.APPROVED:
        Strategy.objects.filter(owner_id=provider.user_id, accepting_copies=False).update(accepting_copies=True, updated_at=timezone.now())
    return provider


# --- Fee terms of copies (marketplace.terms decides them) --------------------------------


def copy_terms_record(*, copy: Copy, expected: FeeTerms | None = None) -> CopyFeeTerms:
    """Record the terms a copy starts with: the strategy's offer now. If the follower was shown
    other terms (`expected`), refuse: they did not consent to these (409, nothing recorded)."""
    offered = fee_terms_offered(strategy=copy.strategy)
    if expected is not None and not expected.charges_same_as(offered):
        raise ConflictError(
            f"The fee terms of '{copy.strategy.name}' changed: they are now {' '.join(fee_terms_in_words(offered))}"
            f" (you were shown {' '.join(fee_terms_in_words(expected))}). Review them and start the copy again.",
            {"fee_terms": _terms_payload(offered)},
        )
    row = CopyFeeTerms(copy=copy, effective_from=first_period(copy.started_at), **_terms_columns(offered))
    row.full_clean(validate_constraints=False)
    row.save()
    return row


def _terms_columns(terms: FeeTerms) -> dict:
    return {
        "program": terms.program,
        "rate_percent": terms.rate_percent,
        "subscription_fee_monthly": terms.subscription_fee_monthly,
        "payee_share": terms.payee_share,
        "currency": terms.currency,
    }


def _terms_payload(terms: FeeTerms) -> dict:
    return {
        "performance_fee_percent": cents_text(terms.rate_percent),
        "subscription_fee_monthly": cents_text(terms.subscription_fee_monthly),
        "currency": terms.currency.upper(),
    }


@transaction.atomic
def provider_terms_update(
    *, provider_id: int, actor, performance_fee_percent: Decimal, subscription_fee_monthly: Decimal
) -> SignalProvider:
    """A provider's new fee terms: the offer to new copiers at once; each live copy of its
    marketplace strategies is told now and billed the new terms from the first full month that
    starts `FEE_TERMS_NOTICE_DAYS` after (it may stop before). Logged as provider events."""
    provider = _provider_locked(provider_id=provider_id)
    changes = {"performance_fee_percent": performance_fee_percent, "subscription_fee_monthly": subscription_fee_monthly}
    changed = {name: value for name, value in changes.items() if Decimal(value) != getattr(provider, name)}
    if not changed:
        return provider
    audit_record(
        action=AuditEntry.Action.FEE_TERMS_CHANGED,
        target=provider,
        before={name: getattr(provider, name) for name in changed},
        after=changed,
        actor=actor,
    )
    for name, value in changed.items():
        provider_event_record(
            provider=provider,
            actor=actor,
            action=Action.TERMS,
            field=name,
            from_value=_terms_value(name, getattr(provider, name)),
            to_value=_terms_value(name, value),
        )
        setattr(provider, name, value)
    provider.full_clean()
    provider.save(update_fields=[*changed, "updated_at"])
    copies_terms_reoffer(owner_id=provider.user_id)
    return provider


def _terms_value(name: str, value) -> str:
    if name == "subscription_fee_monthly":
        return format_money(value, settings.BILLING_CURRENCY)
    return f"{Decimal(value).normalize():f} %"


def copies_terms_reoffer(*, owner_id: int) -> int:
    """After the offer of the owner's strategies changed: schedule the new terms on every live
    copy whose terms differ, after the notice period, and tell its follower. Returns how many.

    The strategies' rows are locked first: a copy starting meanwhile (it holds its strategy's
    lock) either commits before and is seen here, or starts after and records the new offer.
    """
    strategies = list(Strategy.objects.select_for_update().filter(owner_id=owner_id).select_related("owner").order_by("id"))
    now = timezone.now()
    effective_from = effective_period_after_notice(notified_at=now)
    told = 0
    live = Copy.objects.filter(strategy__in=strategies, status__in=Copy.LIVE_STATUSES)
    for copy in live.select_related("follower", "strategy__owner").order_by("id"):
        offered = fee_terms_offered(strategy=copy.strategy)
        current = copy_fee_terms(copy=copy, period=effective_from)
        if current.charges_same_as(offered):
            continue
        # A change noticed earlier but not yet in effect is replaced from the same month on;
        # one due before it stays (its follower was told in time).
        CopyFeeTerms.objects.filter(copy=copy, effective_from__gte=effective_from).delete()
        row = CopyFeeTerms(copy=copy, effective_from=effective_from, notified_at=now, **_terms_columns(offered))
        row.full_clean(validate_constraints=False)
        row.save()
        notification_send(
            user=copy.follower,
            kind=Notification.Kind.FEE_TERMS,
            title=f"Fee terms of {copy.strategy.name} change from {effective_from:%Y-%m-%d}",
            body=(
                f"From {effective_from:%Y-%m-%d} your copy of '{copy.strategy.name}' is billed "
                f"{' '.join(fee_terms_in_words(offered))} (until then: {' '.join(fee_terms_in_words(current))}). "
                "If you do not accept the new terms, stop the copy before that date."
            ),
        )
        told += 1
    logger.info("fee terms of owner %s changed: %s live copies told, new terms from %s", owner_id, told, effective_from)
    return told


# --- Ratings ---------------------------------------------------------------------------

RATEABLE_STATUSES = (Status.APPROVED, Status.SUSPENDED)
AVERAGE = DecimalField(max_digits=3, decimal_places=2)


@transaction.atomic
def rating_upsert(*, user, provider_id: int, stars: int, comment: str = "") -> Rating:
    """Rate a provider 1-5 stars; rating again updates the user's one rating.

    Only users who have copied one of the provider's strategies (a copy exists, live or
    stopped) may rate, once `rating_allowed` (a closed copied trade, or enough days of
    copying), and never the provider itself. The provider row is locked while the
    rating is written and its average recomputed from the ratings table in the same
    UPDATE, so concurrent ratings can neither lose an update nor drift the average.
    """
    if not isinstance(stars, int) or isinstance(stars, bool) or not 1 <= stars <= 5:
        raise ApplicationError("A rating is 1 to 5 stars.", {"fields": {"stars": ["Must be an integer from 1 to 5."]}})
    provider = SignalProvider.objects.select_for_update(of=("self",)).filter(id=provider_id, status__in=RATEABLE_STATUSES).first()
    if provider is None:
        raise NotFoundError("Provider not found.")
    if provider.user_id == user.pk:
        raise ApplicationError("You cannot rate yourself.", status_code=status.HTTP_403_FORBIDDEN)
    copies = Copy.objects.filter(follower=user, strategy__owner_id=provider.user_id)
    if not copies.exists():
        raise ApplicationError(
            "Only users who have copied one of this provider's strategies can rate it.", status_code=status.HTTP_403_FORBIDDEN
        )
    if not rating_allowed(copies=copies, now=timezone.now()):
        raise ApplicationError(
            "You can rate this provider once one of your copied trades of its strategies has closed, "
            f"or after {settings.RATING_MIN_COPY_DAYS} days of copying.",
            status_code=status.HTTP_403_FORBIDDEN,
        )
    rating = Rating.objects.filter(user=user, provider=provider).first() or Rating(user=user, provider=provider)
    rating.stars = stars
    rating.comment = comment
    try:
        rating.full_clean()
    except ValidationError as exc:
        raise ApplicationError("Invalid rating.", {"fields": exc.message_dict}) from exc
    rating.save()
    _provider_ratings_refresh(provider_id=provider.pk)
    return rating


def rating_allowed(*, copies, now) -> bool:
    """A rating says something only after the follower saw the provider trade for them: one
    of the copies has a closed (or reduced) copied trade, or has run for
    `RATING_MIN_COPY_DAYS` days."""
    closed = CopiedTrade.objects.filter(
        copy__in=copies,
        effect__in=[LeaderTrade.Effect.REDUCE, LeaderTrade.Effect.CLOSE],
        status__in=[CopiedTrade.Status.FILLED, CopiedTrade.Status.PARTIALLY_FILLED],
    )
    return closed.exists() or copies.filter(started_at__lte=now - timedelta(days=settings.RATING_MIN_COPY_DAYS)).exists()


@transaction.atomic
def rating_delete(*, rating_id: int) -> None:
    """A curator removes a rating (an abusive comment, say): the provider's average and count
    follow, under the same provider lock as a new rating."""
    provider_id = Rating.objects.filter(id=rating_id).values_list("provider_id", flat=True).first()
    if provider_id is None:
        raise NotFoundError("Rating not found.")
    SignalProvider.objects.select_for_update(of=("self",)).filter(id=provider_id).first()
    Rating.objects.filter(id=rating_id).delete()
    _provider_ratings_refresh(provider_id=provider_id)


def _provider_ratings_refresh(*, provider_id: int) -> None:
    """Average and count recomputed from the ratings table in one UPDATE (the provider row is locked)."""
    ratings = Rating.objects.filter(provider_id=OuterRef("pk")).values("provider_id")
    SignalProvider.objects.filter(id=provider_id).update(
        average_rating=Coalesce(Subquery(ratings.annotate(value=Avg("stars", output_field=AVERAGE)).values("value")), Value(Decimal("0"))),
        ratings_count=Coalesce(Subquery(ratings.annotate(value=Count("id")).values("value")), Value(0)),
    )


def provider_events_purge(*, provider_ids: list[int]) -> int:
    """Delete these providers' event log (erasing their data). The log is append-only in the
    database; this is the one switch that lets a DELETE through, for this transaction only."""
    from django.db import connection

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL copytrade.purge_provider_events = 'on'")
        deleted, _ = ProviderEvent.objects.filter(provider_id__in=provider_ids).delete()
    return deleted


@transaction.atomic
def strategy_capacity_set(*, owner, strategy_id: int, min_copy_capital: Decimal | None, follower_slots: int | None) -> StrategyCapacity:
    """A leader's minimum copy capital and follower slots for new copies of their strategy
    (None: no limit). Copies already live stay whatever the new limits: fewer slots than
    followers only closes the strategy to new ones until copies stop."""
    strategy = Strategy.objects.filter(pk=strategy_id, owner=owner).first()
    if strategy is None:
        raise NotFoundError("Strategy not found.")
    strategies_lock(strategy_ids=[strategy.pk])  # a copy starting now sees the old limits or the new
    if min_copy_capital is not None and not (min_copy_capital.is_finite() and min_copy_capital > 0):
        raise ValidationError({"min_copy_capital": "min_copy_capital must be greater than 0, or null for none."})
    if follower_slots is not None and not 1 <= follower_slots <= 100000:
        raise ValidationError({"follower_slots": "follower_slots must be from 1 to 100000, or null for no limit."})
    capacity, _ = StrategyCapacity.objects.update_or_create(
        strategy=strategy, defaults={"min_copy_capital": min_copy_capital, "follower_slots": follower_slots}
    )
    return capacity


def copy_capacity_check(*, copy: Copy) -> None:
    """Refuse a copy (just saved, under its strategy's row lock) that its leader's capacity
    does not take: a full strategy (409), or a copy capital under the leader's minimum (400)."""
    capacity = StrategyCapacity.objects.filter(strategy_id=copy.strategy_id).first()
    if capacity is None:
        return
    strategy = copy.strategy
    if capacity.follower_slots is not None:
        live = Copy.objects.filter(strategy_id=strategy.pk, status__in=Copy.LIVE_STATUSES).count()
        if live > capacity.follower_slots:
            raise ConflictError(
                f"'{strategy.name}' is full: its leader takes {capacity.follower_slots} followers and every slot is taken. "
                "Try again when a follower leaves.",
                {"follower_slots": capacity.follower_slots},
            )
    if capacity.min_copy_capital is not None and copy.copy_capital < capacity.min_copy_capital:
        quote = strategy.quote_currency
        raise ApplicationError(
            f"The leader of '{strategy.name}' takes copies of at least {format_money(capacity.min_copy_capital, quote)} of "
            f"capital; this copy would have {format_money(copy.copy_capital, quote)}. Choose a larger share, or "
            "another account.",
            {"min_copy_capital": str(capacity.min_copy_capital), "copy_capital": str(copy.copy_capital)},
        )


def strategy_recommendation_set(*, owner, strategy_id: int, settings: dict) -> StrategyRecommendation:
    """The copy settings a leader recommends (RECOMMENDABLE only, each within the bounds a copy
    is held to); an empty dict withdraws the recommendation. Shown on the copy form as a
    starting point; what the follower submits is what the copy gets."""
    strategy = Strategy.objects.filter(pk=strategy_id, owner=owner).first()
    if strategy is None:
        raise NotFoundError("Strategy not found.")
    unknown = sorted(set(settings) - set(RECOMMENDABLE))
    if unknown:
        raise ValidationError({unknown[0]: f"A leader may recommend only {', '.join(RECOMMENDABLE)}."})
    copy_settings_validate(settings=settings)
    stored = {name: value if isinstance(value, int) else str(value) for name, value in settings.items() if value is not None}
    recommendation, _ = StrategyRecommendation.objects.update_or_create(strategy=strategy, defaults={"settings": stored})
    return recommendation


def strategy_invitation_create(*, owner, strategy_id: int) -> StrategyInvitation:
    """A new invitation link to one of the owner's strategies: whoever holds it may see and
    copy the strategy while it is not listed on the leaderboard."""
    strategy = Strategy.objects.filter(pk=strategy_id, owner=owner).first()
    if strategy is None:
        raise NotFoundError("Strategy not found.")
    invitation = StrategyInvitation(strategy=strategy)
    invitation.full_clean()
    invitation.save()
    return invitation


def invited_copy_record(*, copy: Copy, token: str) -> InvitedCopy | None:
    """Which invitation link a copy just started came by (None: none, or not a live link to
    its strategy), so its leader sees how many copies each link started."""
    if not token:
        return None
    invitation = StrategyInvitation.objects.filter(strategy_id=copy.strategy_id, token=token, revoked_at__isnull=True).first()
    if invitation is None:
        return None
    return InvitedCopy.objects.create(copy=copy, invitation=invitation)


def strategy_invitation_revoke(*, owner, invitation_id: int) -> StrategyInvitation:
    """The link lets no one else in from now on; copies already started with it stay."""
    invitation = StrategyInvitation.objects.filter(pk=invitation_id, strategy__owner=owner).first()
    if invitation is None:
        raise NotFoundError("Invitation not found.")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation
