import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.money import format_money, money_field
from core.names import name_key, validate_printable_name, validate_single_script_name
from marketplace.metrics import Coverage

DISPLAY_NAME_TAKEN = "Another provider already uses this name, or one that reads the same; choose another."


class Program(models.TextChoices):
    """Who earns from a strategy, and so how its fees are split (settings.BILLING_PAYOUT_SHARES)."""

    AI = "ai"  # seed 000: AI strategies, leader 60 % / platform 40 %
    MARKETPLACE = "marketplace"  # seed 001: signal providers, provider 80 % / platform 20 %


class SignalProvider(models.Model):
    """A human trader offering signals on the marketplace (seed 001 `signal_providers`).

    One per user; the provider owns every `copytrade.Strategy` whose `owner` is its user.
    Status changes only through `marketplace.services.provider_transition`, which writes
    a `ProviderEvent` for each one.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        SUSPENDED = "suspended"

    class RiskLevel(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"

    class VerificationStatus(models.TextChoices):
        UNVERIFIED = "unverified"  # not enough checked history yet
        VERIFIED = "verified"  # track record checked against exchange candles
        FLAGGED = "flagged"  # a trade price lies outside its candle: curators look at it

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signal_provider")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    display_name = models.CharField(max_length=100, validators=[validate_printable_name, validate_single_script_name])
    # `core.names.name_key(display_name)`, set by `clean()`: unique, so no provider can pass
    # for another by case, width or look-alike letters.
    display_name_key = models.CharField(max_length=400, editable=False, default="")
    description = models.TextField(blank=True, default="", max_length=5000)
    trading_strategy = models.TextField(blank=True, default="", max_length=5000)
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices, default=RiskLevel.MEDIUM)
    subscription_fee_monthly = money_field(default=0)
    performance_fee_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=0, validators=[MinValueValidator(0), MaxValueValidator(50)]
    )
    is_public = models.BooleanField(default=True)
    average_rating = models.DecimalField(max_digits=3, decimal_places=2, default=0)
    ratings_count = models.PositiveIntegerField(default=0)
    verification_status = models.CharField(max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNVERIFIED)
    # Raised by circuit breakers and verification flags; a curator clears it after review.
    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=255, blank=True, default="")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        permissions = [("curate_signalprovider", "Can approve, reject, suspend and reinstate signal providers")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["pending", "approved", "rejected", "suspended"]), name="provider_status_valid"),
            models.CheckConstraint(condition=Q(risk_level__in=["low", "medium", "high"]), name="provider_risk_valid"),
            models.CheckConstraint(
                condition=Q(verification_status__in=["unverified", "verified", "flagged"]),
                name="provider_verification_valid",
            ),
            models.CheckConstraint(
                condition=Q(performance_fee_percent__gte=0) & Q(performance_fee_percent__lte=50),
                name="provider_performance_fee_0_50",
            ),
            models.CheckConstraint(condition=Q(subscription_fee_monthly__gte=0), name="provider_subscription_nonnegative"),
            models.CheckConstraint(condition=Q(average_rating__gte=0) & Q(average_rating__lte=5), name="provider_average_rating_0_5"),
            models.UniqueConstraint(fields=["display_name_key"], name="provider_display_name_unique"),
        ]
        indexes = [
            # The public traders list: approved and public providers only.
            models.Index(fields=["status", "is_public"], name="provider_listable"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        # Here, not in a service: curators edit the name in admin too, whose form runs this.
        self.display_name_key = name_key(self.display_name)
        if SignalProvider.objects.filter(display_name_key=self.display_name_key).exclude(pk=self.pk).exists():
            raise ValidationError({"display_name": DISPLAY_NAME_TAKEN})


class ProviderEvent(models.Model):
    """Append-only log of what happened to a provider: who changed what, from, to, why, when."""

    class Action(models.TextChoices):
        APPLY = "apply"
        REAPPLY = "reapply"
        APPROVE = "approve"
        REJECT = "reject"
        SUSPEND = "suspend"
        REINSTATE = "reinstate"
        CIRCUIT_BREAKER = "circuit_breaker"
        VERIFICATION_FLAG = "verification_flag"
        VERIFICATION = "verification"
        REVIEW_CLEARED = "review_cleared"
        TERMS = "terms"  # the provider's fee terms changed (marketplace.services.provider_terms_update)

    provider = models.ForeignKey(SignalProvider, on_delete=models.PROTECT, related_name="events")
    # Null when the platform itself acted (daily checks, circuit breakers).
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="provider_events")
    action = models.CharField(max_length=32, choices=Action.choices)
    field = models.CharField(max_length=64, blank=True, default="")
    from_value = models.CharField(max_length=255, blank=True, default="")
    to_value = models.CharField(max_length=255, blank=True, default="")
    reason = models.TextField(blank=True, default="", max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["provider", "-created_at"], name="provider_event_by_time")]

    def __str__(self) -> str:
        change = f": {self.from_value or '–'} → {self.to_value or '–'}" if self.field else ""
        return f"{self.provider} · {self.action}{change} · by {self.actor or 'the platform'}"


class Rating(models.Model):
    """1-5 stars and an optional comment; one per (user, provider), rating again updates it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_ratings")
    provider = models.ForeignKey(SignalProvider, on_delete=models.CASCADE, related_name="ratings")
    stars = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(blank=True, default="", max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "provider"], name="rating_one_per_user_provider"),
            models.CheckConstraint(condition=Q(stars__gte=1) & Q(stars__lte=5), name="rating_stars_1_5"),
        ]
        indexes = [models.Index(fields=["provider", "-updated_at"], name="rating_recent_by_provider")]

    def __str__(self) -> str:
        return f"{self.stars}★ for {self.provider} by {self.user}"


class MetricsWindow(models.TextChoices):
    """The windows of `marketplace.metrics.WINDOWS`: the N UTC days ending on `as_of`."""

    D7 = "7d"
    D30 = "30d"
    D90 = "90d"
    ALL = "all"


class PerformanceMetrics(models.Model):
    """One window's metrics, as `marketplace.metrics.compute_all` defines them.

    Ratios are floats (statistics, not money); None where a ratio is undefined. Units:
    `total_return`, `cagr`, `volatility` and `win_rate` are fractions (0.6 = 60 %);
    `max_drawdown` and `current_drawdown` are positive percentages (25.0 = 25 % below
    the peak). An infinite profit factor (profits, no losing trade) is stored as
    `profit_factor=None, profit_factor_infinite=True`: PostgreSQL could hold infinity, JSON
    cannot, and one representation keeps the API and the database the same.
    """

    window = models.CharField(max_length=3, choices=MetricsWindow.choices)
    as_of = models.DateField()
    first_day = models.DateField(null=True, blank=True)
    last_day = models.DateField(null=True, blank=True)
    returns_count = models.PositiveIntegerField(default=0)
    total_return = models.FloatField(null=True, blank=True)
    cagr = models.FloatField(null=True, blank=True)
    volatility = models.FloatField(null=True, blank=True)
    sharpe_ratio = models.FloatField(null=True, blank=True)
    sortino_ratio = models.FloatField(null=True, blank=True)
    max_drawdown = models.FloatField(null=True, blank=True)
    current_drawdown = models.FloatField(null=True, blank=True)
    calmar_ratio = models.FloatField(null=True, blank=True)
    closed_trades = models.PositiveIntegerField(default=0)
    win_rate = models.FloatField(null=True, blank=True)
    profit_factor = models.FloatField(null=True, blank=True)
    profit_factor_infinite = models.BooleanField(default=False)
    follower_count = models.PositiveIntegerField(default=0)
    copied_aum = money_field(default=0)
    # [["2026-01-01", "10000.00"], ...]: the window's daily equity, for charts.
    equity_series = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        abstract = True

    @property
    def sharpe(self) -> float | None:
        """The name `marketplace.apis_leaderboard.MetricsMixin` reads."""
        return self.sharpe_ratio

    @property
    def coverage(self) -> Coverage:
        return Coverage(days=self.returns_count, closed_trades=self.closed_trades, first_day=self.first_day, last_day=self.last_day)


class StrategyMetrics(PerformanceMetrics):
    strategy = models.ForeignKey("copytrade.Strategy", on_delete=models.CASCADE, related_name="marketplace_metrics")

    class Meta:
        ordering = ["strategy_id", "window"]
        verbose_name_plural = "strategy metrics"
        constraints = [
            models.UniqueConstraint(fields=["strategy", "window"], name="strategy_metrics_one_per_window"),
            models.CheckConstraint(condition=Q(window__in=["7d", "30d", "90d", "all"]), name="strategy_metrics_window_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy} · {self.window} metrics as of {self.as_of}"


class ProviderMetrics(PerformanceMetrics):
    """A provider's metrics over the sum of its strategies' equity curves."""

    provider = models.ForeignKey(SignalProvider, on_delete=models.CASCADE, related_name="metrics")

    class Meta:
        ordering = ["provider_id", "window"]
        verbose_name_plural = "provider metrics"
        constraints = [
            models.UniqueConstraint(fields=["provider", "window"], name="provider_metrics_one_per_window"),
            models.CheckConstraint(condition=Q(window__in=["7d", "30d", "90d", "all"]), name="provider_metrics_window_valid"),
        ]
        indexes = [
            # The traders list joins one window's row per provider and sorts on it.
            models.Index(fields=["window", "provider"], name="provider_metrics_by_window"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} · {self.window} metrics as of {self.as_of}"


class TradeVerification(models.Model):
    """A leader trade's price checked against the exchange's 1-minute candle of its time."""

    class Status(models.TextChoices):
        VERIFIED = "verified"  # low - tolerance <= price <= high + tolerance
        MISMATCH = "mismatch"  # outside the candle: a flag for curators
        UNAVAILABLE = "unavailable"  # the exchange has no candle for that minute

    leader_trade = models.OneToOneField("copytrade.LeaderTrade", on_delete=models.CASCADE, related_name="verification")
    strategy = models.ForeignKey("copytrade.Strategy", on_delete=models.CASCADE, related_name="trade_verifications")
    status = models.CharField(max_length=16, choices=Status.choices)
    exchange_id = models.CharField(max_length=32)
    price = money_field()
    candle_low = money_field(null=True, blank=True)
    candle_high = money_field(null=True, blank=True)
    tolerance_percent = models.DecimalField(max_digits=7, decimal_places=4)
    checked_at = models.DateTimeField()
    # A curator who looked at a mismatch and accepted it (e.g. an exchange-side correction).
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolution_note = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-checked_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["verified", "mismatch", "unavailable"]), name="trade_verification_status_valid"),
        ]
        indexes = [
            # Open flags per strategy: badges, circuit breakers and the admin page read them.
            models.Index(
                fields=["strategy"], condition=Q(status="mismatch", resolved_at__isnull=True), name="trade_verification_open_flags"
            ),
        ]

    @property
    def is_open_flag(self) -> bool:
        return self.status == self.Status.MISMATCH and self.resolved_at is None

    def __str__(self) -> str:
        return f"{self.strategy} trade {self.leader_trade_id} · {self.status}"


class CopyFeeTerms(models.Model):
    """The fee terms of one copy from one month on: the first row is what the follower
    consented to when the copy started; a later row is a provider's change, noticed to the
    follower at `notified_at`, in effect from `effective_from` (marketplace.terms).

    Decided and written by marketplace (copytrade's `copy_starting` signal, answered in
    marketplace.receivers); read by billing for every assessment and by every page and
    endpoint that shows a copy's terms.
    """

    # Part of the copy: where a copy may be deleted (nothing billed refers to it), so may its terms.
    copy = models.ForeignKey("copytrade.Copy", on_delete=models.CASCADE, related_name="fee_terms")
    # First day of the first month these terms are billed for.
    effective_from = models.DateField()
    program = models.CharField(max_length=16, choices=Program.choices)
    rate_percent = models.DecimalField(max_digits=5, decimal_places=2)
    subscription_fee_monthly = money_field()
    # The payee's share of every fee, as a fraction (0.8 = 80 %); the platform keeps the rest.
    payee_share = models.DecimalField(max_digits=5, decimal_places=4)
    currency = models.CharField(max_length=3)
    # Null on the terms recorded at the copy's start (the follower saw them then).
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["copy_id", "effective_from"]
        verbose_name_plural = "copy fee terms"
        constraints = [
            models.UniqueConstraint(fields=["copy", "effective_from"], name="copy_fee_terms_once_per_month"),
            models.CheckConstraint(condition=Q(program__in=["ai", "marketplace"]), name="copy_fee_terms_program_valid"),
            models.CheckConstraint(condition=Q(rate_percent__gte=0) & Q(rate_percent__lte=100), name="copy_fee_terms_rate_0_100"),
            models.CheckConstraint(condition=Q(subscription_fee_monthly__gte=0), name="copy_fee_terms_subscription_nonnegative"),
            models.CheckConstraint(condition=Q(payee_share__gte=0) & Q(payee_share__lte=1), name="copy_fee_terms_share_0_1"),
        ]

    def __str__(self) -> str:
        subscription = format_money(self.subscription_fee_monthly, self.currency)
        return f"Copy {self.copy_id} from {self.effective_from:%Y-%m} · {self.rate_percent.normalize():f} % + {subscription} a month"


class StrategyCapacity(models.Model):
    """What a leader asks of new copies of a strategy: a minimum copy capital and a number of
    follower slots (live copies: active and paused). None is no limit. Checked when a copy
    starts, under the strategy's row lock (marketplace.receivers); copies already live stay."""

    strategy = models.OneToOneField("copytrade.Strategy", on_delete=models.CASCADE, related_name="capacity")
    min_copy_capital = money_field(null=True, blank=True)
    follower_slots = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "strategy capacities"
        constraints = [
            models.CheckConstraint(
                condition=Q(min_copy_capital__isnull=True) | Q(min_copy_capital__gt=0), name="capacity_min_capital_positive"
            ),
            models.CheckConstraint(
                condition=Q(follower_slots__isnull=True) | (Q(follower_slots__gte=1) & Q(follower_slots__lte=100000)),
                name="capacity_slots_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.strategy} · capacity"

    def slots_left(self, copiers: int) -> int | None:
        return None if self.follower_slots is None else max(self.follower_slots - copiers, 0)


class StrategyRecommendation(models.Model):
    """The copy settings a leader recommends for their strategy, offered on the copy form as a
    starting point; the follower's own choice is what the copy gets. `settings`: names of
    `copytrade.copy_settings.RECOMMENDABLE` to values (strings for decimals)."""

    strategy = models.OneToOneField("copytrade.Strategy", on_delete=models.CASCADE, related_name="recommendation")
    settings = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.strategy} · recommended settings"


def new_invitation_token() -> str:
    return secrets.token_urlsafe(24)


class StrategyInvitation(models.Model):
    """A link its leader hands out to a strategy not listed on the leaderboard: whoever holds a
    valid token may see the strategy and copy it. Revoked, it lets no one else in; copies
    started with it stay (they are their followers')."""

    strategy = models.ForeignKey("copytrade.Strategy", on_delete=models.CASCADE, related_name="invitations")
    token = models.CharField(max_length=64, default=new_invitation_token)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token"], name="strategy_invitation_token_unique")]

    def __str__(self) -> str:
        return f"{self.strategy} · invitation {self.pk}{' (revoked)' if self.revoked_at else ''}"


class InvitedCopy(models.Model):
    """A copy started through an invitation link: how many copies each link started, for its
    leader. Kept when the link is revoked (the copies stay)."""

    copy = models.OneToOneField("copytrade.Copy", on_delete=models.CASCADE, related_name="invited_by")
    invitation = models.ForeignKey(StrategyInvitation, on_delete=models.CASCADE, related_name="copies_started")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "invited copies"

    def __str__(self) -> str:
        return f"{self.copy} · by invitation {self.invitation_id}"
