"""REST for the signal-provider marketplace (seed 001, `/api/marketplace/...`), one view per
operation. The strategies' leaderboard (`/api/copy-trading/...`) is `marketplace.apis_leaderboard`,
which shares the output serializers below (fee terms, coverage, the sort vocabulary).

Units in every metrics object: returns and drawdowns are percentages: `total_return` and
`cagr` (8.4 = +8.4 %), `max_drawdown` and `current_drawdown` (25.0 = 25 % below the peak);
`win_rate` and `volatility` (the daily returns' standard deviation) are fractions (0.6 =
60 %); ratios are plain numbers; `null` means undefined (too little
history, no variance, no losing day...). Profit factor with profits and no losing trade is
infinite, which JSON cannot carry: it is shown as `"profit_factor": null,
"profit_factor_infinite": true` (see `marketplace.metrics.profit_factor_for_api`).

Every window's figures carry their coverage: `coverage.days` (daily returns counted),
`coverage.closed_trades`, `coverage.first_day` / `last_day` (null before a full day). A
"90d" figure of a record 3 days long says `days: 3`. A record shorter than
`LEADERBOARD_MIN_DAYS` days or `LEADERBOARD_MIN_CLOSED_TRADES` closed trades over its whole
history is `ranked: false` (listed as new): sorted on a figure, ranked records come first.
Sharpe, Sortino and Calmar are null for a record of near-constant returns or a total loss
(marketplace/metrics.py says where the line is).

Filters of `GET traders` use the same units: `min_win_rate=0.6`, `max_drawdown=20` (%).
`min_rating`, `min_win_rate` and `max_drawdown` cannot be negative; `min_sharpe` can,
because a negative Sharpe ratio is a meaningful floor.
"""

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from copytrade.models import Strategy
from core.api_conventions import CentsField, PageFilterSerializer, Pagination, StrictInputSerializer, paginated_response
from core.errors import ApplicationError, NotFoundError
from core.selectors import display_name
from core.terms import FeeTerms
from marketplace.metrics import WINDOWS, Coverage, return_percent
from marketplace.models import MetricsWindow, PerformanceMetrics, Program, Rating, SignalProvider
from marketplace.selectors import (
    DEFAULT_WINDOW,
    LEADERBOARD_SORT_CHOICES,
    LEADERBOARD_SORTS,
    provider_get_public,
    provider_list_public,
    rating_distribution,
    strategy_metrics_map,
)
from marketplace.services import (
    is_curator,
    provider_apply,
    rating_upsert,
    strategy_capacity_set,
    strategy_invitation_create,
    strategy_invitation_revoke,
    strategy_recommendation_set,
)
from marketplace.tasks import provider_metrics_enqueue
from marketplace.terms import fee_terms_in_words, fee_terms_offered

MONEY = {"max_digits": settings.MONEY_MAX_DIGITS, "decimal_places": settings.MONEY_DECIMAL_PLACES}
# Amounts a person reads: decimal strings with 2 places.
CENTS_FIELD = {"max_digits": settings.MONEY_MAX_DIGITS, "decimal_places": 2}
FILTER_NUMBER = {"max_digits": 20, "decimal_places": 10, "required": False}


# --- Output ------------------------------------------------------------------------------


class FeeTermsOutputSerializer(serializers.Serializer):
    """What a copy started now is billed (marketplace.terms: the same function billing charges
    with), built from a `FeeTerms`. Amounts are decimal strings with 2 places; `in_words` as the
    pages say it."""

    program = serializers.ChoiceField(choices=Program.choices)
    performance_fee_percent = CentsField(source="rate_percent", help_text="Percent of new profit above the follower's high-water mark.")
    subscription_fee_monthly = CentsField(help_text="Per calendar month, prorated by the days the copy is live.")
    currency = serializers.SerializerMethodField()
    in_words = serializers.SerializerMethodField()

    def get_currency(self, terms: FeeTerms) -> str:
        return terms.currency.upper()

    def get_in_words(self, terms: FeeTerms) -> str:
        return " ".join(fee_terms_in_words(terms))


def _ratio(**kwargs) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, **kwargs)


def _percent() -> serializers.SerializerMethodField:
    return serializers.SerializerMethodField(help_text="A percentage: 8.4 is +8.4 %.")


class CoverageOutputSerializer(serializers.Serializer):
    """What a window's figures cover (a `marketplace.metrics.Coverage`): they are measured on
    these days and trades only."""

    days = serializers.IntegerField(help_text="Daily returns counted (a window of a short record covers fewer days than its name).")
    closed_trades = serializers.IntegerField(help_text="Trades closed (or reduced) within the window.")
    first_day = serializers.DateField(allow_null=True)
    last_day = serializers.DateField(allow_null=True)


class MetricsOutputSerializer(serializers.Serializer):
    """One window's metrics, from its `PerformanceMetrics` row (units in the module's docstring)."""

    window = serializers.ChoiceField(choices=list(WINDOWS))
    as_of = serializers.DateField()
    returns_count = serializers.IntegerField()
    coverage = CoverageOutputSerializer()
    total_return = _percent()
    cagr = _percent()
    volatility = _ratio()
    sharpe_ratio = _ratio()
    sortino_ratio = _ratio()
    max_drawdown = _ratio()
    current_drawdown = _ratio()
    calmar_ratio = _ratio()
    closed_trades = serializers.IntegerField()
    win_rate = _ratio()
    profit_factor = _ratio()
    profit_factor_infinite = serializers.BooleanField()
    follower_count = serializers.IntegerField()
    copied_aum = CentsField()

    def get_total_return(self, row: PerformanceMetrics) -> float | None:
        return return_percent(row.total_return)

    def get_cagr(self, row: PerformanceMetrics) -> float | None:
        return return_percent(row.cagr)


class EquityPointOutputSerializer(serializers.Serializer):
    date = serializers.DateField()
    equity = serializers.DecimalField(max_digits=None, decimal_places=None)


class TraderListMetricsOutputSerializer(serializers.Serializer):
    """The listed window's metrics of a provider, from the `metric_*` columns
    `provider_list_public` annotates (the window is the request's, in the context)."""

    window = serializers.SerializerMethodField()
    as_of = serializers.DateField(source="metric_as_of")
    coverage = serializers.SerializerMethodField()
    total_return = _percent()
    sharpe_ratio = _ratio(source="metric_sharpe_ratio")
    sortino_ratio = _ratio(source="metric_sortino_ratio")
    win_rate = _ratio(source="metric_win_rate")
    profit_factor = _ratio(source="metric_profit_factor")
    profit_factor_infinite = serializers.BooleanField(source="metric_profit_factor_infinite")
    max_drawdown = _ratio(source="metric_max_drawdown")
    calmar_ratio = _ratio(source="metric_calmar_ratio")
    closed_trades = serializers.IntegerField(source="metric_closed_trades")
    copied_aum = CentsField(source="metric_copied_aum")

    def get_window(self, provider) -> str:
        return self.context["window"]

    @extend_schema_field(CoverageOutputSerializer)
    def get_coverage(self, provider) -> dict:
        coverage = Coverage(
            days=provider.metric_returns_count,
            closed_trades=provider.metric_closed_trades,
            first_day=provider.metric_first_day,
            last_day=provider.metric_last_day,
        )
        return CoverageOutputSerializer(coverage).data

    def get_total_return(self, provider) -> float | None:
        return return_percent(provider.metric_total_return)


class TraderListOutputSerializer(serializers.ModelSerializer):
    follower_count = serializers.IntegerField()
    subscription_fee_monthly = serializers.DecimalField(**CENTS_FIELD, read_only=True)
    ranked = serializers.BooleanField(help_text="False for a record too short to rank (listed as new).")
    metrics = serializers.SerializerMethodField()

    class Meta:
        model = SignalProvider
        fields = [
            "id",
            "display_name",
            "description",
            "risk_level",
            "subscription_fee_monthly",
            "performance_fee_percent",
            "average_rating",
            "ratings_count",
            "verification_status",
            "follower_count",
            "ranked",
            "metrics",
        ]
        read_only_fields = fields

    @extend_schema_field(TraderListMetricsOutputSerializer(allow_null=True))
    def get_metrics(self, provider) -> dict | None:
        """The requested window's metrics, from the columns the list selector annotated."""
        if provider.metric_as_of is None:
            return None
        return TraderListMetricsOutputSerializer(provider, context=self.context).data


class ProviderOwnOutputSerializer(serializers.ModelSerializer):
    subscription_fee_monthly = serializers.DecimalField(**CENTS_FIELD, read_only=True)

    class Meta:
        model = SignalProvider
        fields = [
            "id",
            "status",
            "display_name",
            "description",
            "trading_strategy",
            "risk_level",
            "subscription_fee_monthly",
            "performance_fee_percent",
            "is_public",
            "average_rating",
            "ratings_count",
            "verification_status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RatingOutputSerializer(serializers.ModelSerializer):
    user = serializers.SerializerMethodField(help_text="The rater's public display name (never a username).")
    rating = serializers.IntegerField(source="stars")

    def get_user(self, rating) -> str:
        return display_name(rating.user)

    class Meta:
        model = Rating
        fields = ["id", "user", "rating", "comment", "created_at", "updated_at"]
        read_only_fields = fields


class RatingSummaryOutputSerializer(serializers.Serializer):
    """A provider's ratings: average, count, how many of each star and the latest comments."""

    average = serializers.DecimalField(max_digits=3, decimal_places=2, source="average_rating")
    count = serializers.IntegerField(source="ratings_count")
    distribution = serializers.SerializerMethodField(help_text='{"1": n, ..., "5": n}')
    recent_comments = RatingOutputSerializer(many=True)

    def get_distribution(self, provider: SignalProvider) -> dict[str, int]:
        return rating_distribution(provider=provider)


class ProviderStrategyOutputSerializer(serializers.ModelSerializer):
    """A provider's public strategy with its offer and all-time metrics (`strategy_metrics` in
    the context: strategy id -> PerformanceMetrics)."""

    copiers_count = serializers.IntegerField()
    fee_terms = serializers.SerializerMethodField()
    metrics_all = serializers.SerializerMethodField()

    class Meta:
        model = Strategy
        fields = ["id", "name", "kind", "verified_badge", "accepting_copies", "copiers_count", "fee_terms", "metrics_all"]
        read_only_fields = fields

    @extend_schema_field(FeeTermsOutputSerializer)
    def get_fee_terms(self, strategy: Strategy) -> dict:
        return FeeTermsOutputSerializer(fee_terms_offered(strategy=strategy)).data

    @extend_schema_field(MetricsOutputSerializer(allow_null=True))
    def get_metrics_all(self, strategy: Strategy) -> dict | None:
        row = self.context["strategy_metrics"].get(strategy.id)
        return MetricsOutputSerializer(row).data if row is not None else None


class TraderDetailOutputSerializer(serializers.ModelSerializer):
    """The public provider page: profile, metrics per window, the all-time equity series, the
    rating summary and the public strategies (`provider_get_public` prefetches them)."""

    follower_count = serializers.IntegerField()
    subscription_fee_monthly = CentsField()
    performance_fee_percent = CentsField()
    approved_since = serializers.DateTimeField(source="status_changed_at", allow_null=True)
    metrics = serializers.SerializerMethodField()
    equity_series = serializers.SerializerMethodField(help_text="The whole record's daily equity for charts; each window is its tail.")
    rating = RatingSummaryOutputSerializer(source="*")
    strategies = serializers.SerializerMethodField()

    class Meta:
        model = SignalProvider
        fields = [
            "id",
            "display_name",
            "description",
            "trading_strategy",
            "risk_level",
            "subscription_fee_monthly",
            "performance_fee_percent",
            "verification_status",
            "follower_count",
            "approved_since",
            "metrics",
            "equity_series",
            "rating",
            "strategies",
        ]
        read_only_fields = fields

    @staticmethod
    def _by_window(provider: SignalProvider) -> dict:
        return {row.window: row for row in provider.window_metrics}

    @extend_schema_field(
        inline_serializer("TraderDetailMetricsByWindow", {window: MetricsOutputSerializer(allow_null=True) for window in WINDOWS})
    )
    def get_metrics(self, provider: SignalProvider) -> dict:
        by_window = self._by_window(provider)
        return {window: MetricsOutputSerializer(by_window[window]).data if window in by_window else None for window in WINDOWS}

    @extend_schema_field(EquityPointOutputSerializer(many=True))
    def get_equity_series(self, provider: SignalProvider) -> list[dict]:
        row = self._by_window(provider).get(MetricsWindow.ALL)
        return [{"date": day, "equity": equity} for day, equity in row.equity_series] if row is not None else []

    @extend_schema_field(ProviderStrategyOutputSerializer(many=True))
    def get_strategies(self, provider: SignalProvider) -> list[dict]:
        strategies = provider.user.public_strategies
        metrics = strategy_metrics_map(strategy_ids=[strategy.id for strategy in strategies], window=MetricsWindow.ALL)
        return ProviderStrategyOutputSerializer(strategies, many=True, context={"strategy_metrics": metrics}).data


def leaderboard_sort_field(*, default: str) -> serializers.ChoiceField:
    """The leaderboard's one sort vocabulary (older names accepted as aliases)."""
    return serializers.ChoiceField(
        choices=list(LEADERBOARD_SORT_CHOICES),
        default=default,
        help_text="The leaderboard's sorts, ranked records first: " + ", ".join(LEADERBOARD_SORTS) + ". Older names are aliases.",
        error_messages={"invalid_choice": '"{input}" is not a sort: use one of ' + ", ".join(LEADERBOARD_SORTS) + "."},
    )


# --- Views ---------------------------------------------------------------------------------


class ProviderApplyApi(APIView):
    class InputSerializer(StrictInputSerializer):
        display_name = serializers.CharField(max_length=100)
        description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
        trading_strategy = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
        risk_level = serializers.ChoiceField(choices=SignalProvider.RiskLevel.choices, default=SignalProvider.RiskLevel.MEDIUM)
        subscription_fee_monthly = serializers.DecimalField(**MONEY, min_value=Decimal("0"), default=Decimal("0"))
        performance_fee_percent = serializers.DecimalField(
            max_digits=5, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("50"), default=Decimal("0")
        )
        is_public = serializers.BooleanField(default=True)

    @extend_schema(operation_id="marketplace_apply", request=InputSerializer, responses={201: ProviderOwnOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        provider = provider_apply(user=request.user, **serializer.validated_data)
        return Response(ProviderOwnOutputSerializer(provider).data, status=status.HTTP_201_CREATED)


class TraderListApi(APIView):
    permission_classes = [AllowAny]
    pagination_class = Pagination

    class FilterSerializer(PageFilterSerializer):
        window = serializers.ChoiceField(choices=list(WINDOWS), default=DEFAULT_WINDOW)
        sort_by = leaderboard_sort_field(default="return")
        min_rating = serializers.DecimalField(**FILTER_NUMBER, min_value=Decimal("0"), max_value=Decimal("5"))
        min_win_rate = serializers.DecimalField(**FILTER_NUMBER, min_value=Decimal("0"), max_value=Decimal("1"))
        min_sharpe = serializers.DecimalField(**FILTER_NUMBER)
        max_drawdown = serializers.DecimalField(**FILTER_NUMBER, min_value=Decimal("0"), max_value=Decimal("100"))
        risk_level = serializers.ChoiceField(choices=SignalProvider.RiskLevel.choices, required=False)
        verified = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(operation_id="marketplace_traders", parameters=[FilterSerializer], responses=TraderListOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return paginated_response(
            request=request,
            view=self,
            queryset=provider_list_public(**filters.filters),
            serializer_class=TraderListOutputSerializer,
            context={"window": filters.filters["window"]},
        )


class TraderDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="marketplace_trader",
        responses=TraderDetailOutputSerializer,
        description="Profile, metrics per window (7d/30d/90d/all), the all-time equity series, rating summary with "
        "recent comments, and the public strategies with their all-time metrics.",
    )
    def get(self, request, provider_id: int):
        return Response(TraderDetailOutputSerializer(provider_get_public(provider_id=provider_id)).data)


class TraderRateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        rating = serializers.IntegerField(min_value=1, max_value=5)
        comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    class OutputSerializer(RatingOutputSerializer):
        """The rating, and the provider's summary after it."""

        average_rating = serializers.DecimalField(max_digits=3, decimal_places=2, source="provider.average_rating")
        ratings_count = serializers.IntegerField(source="provider.ratings_count")

        class Meta(RatingOutputSerializer.Meta):
            fields = [*RatingOutputSerializer.Meta.fields, "average_rating", "ratings_count"]
            read_only_fields = fields

    @extend_schema(
        operation_id="marketplace_rate",
        request=InputSerializer,
        responses={200: OutputSerializer},
        description="Rate a provider 1-5 stars (again: updates your one rating). Only a follower who has copied one of "
        "its strategies may rate, once one of those copied trades has closed or after RATING_MIN_COPY_DAYS days of "
        "copying (403 with the reason otherwise); never the provider itself.",
    )
    def post(self, request, provider_id: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rating = rating_upsert(
            user=request.user,
            provider_id=provider_id,
            stars=serializer.validated_data["rating"],
            comment=serializer.validated_data["comment"],
        )
        # The summary was recomputed in the database after the provider row was read.
        rating.provider.refresh_from_db(fields=["average_rating", "ratings_count"])
        return Response(self.OutputSerializer(rating).data)


class TraderUpdateMetricsOutputSerializer(serializers.Serializer):
    provider_id = serializers.IntegerField()
    strategies_enqueued = serializers.IntegerField()


class TraderUpdateMetricsApi(APIView):
    @extend_schema(operation_id="marketplace_update_metrics", request=None, responses={202: TraderUpdateMetricsOutputSerializer})
    def post(self, request, provider_id: int):
        if not is_curator(request.user):
            raise ApplicationError("Only curators can recalculate a provider's metrics.", status_code=status.HTTP_403_FORBIDDEN)
        if not SignalProvider.objects.filter(id=provider_id).exists():
            raise NotFoundError("Provider not found.")
        strategies = provider_metrics_enqueue(provider_id=provider_id)
        output = TraderUpdateMetricsOutputSerializer({"provider_id": provider_id, "strategies_enqueued": strategies})
        return Response(output.data, status=status.HTTP_202_ACCEPTED)


MONEY_FIELD = {"max_digits": settings.MONEY_MAX_DIGITS, "decimal_places": settings.MONEY_DECIMAL_PLACES}


class StrategyCapacityOutputSerializer(serializers.Serializer):
    strategy_id = serializers.IntegerField()
    min_copy_capital = serializers.DecimalField(**MONEY_FIELD, allow_null=True)
    follower_slots = serializers.IntegerField(allow_null=True)
    followers = serializers.IntegerField(help_text="Live copies now (active and paused): the slots they take.")


class StrategyCapacityApi(APIView):
    """A leader's limits on new copies of their strategy: a minimum copy capital (in the
    strategy's quote currency) and a number of follower slots; null is no limit. A full
    strategy says so on the leaderboard and refuses new copies with 409."""

    class InputSerializer(StrictInputSerializer):
        min_copy_capital = serializers.DecimalField(**MONEY_FIELD, allow_null=True)
        follower_slots = serializers.IntegerField(allow_null=True)

    @extend_schema(operation_id="strategy_capacity_set", request=InputSerializer, responses=StrategyCapacityOutputSerializer)
    def put(self, request, strategy_id: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        capacity = strategy_capacity_set(owner=request.user, strategy_id=strategy_id, **serializer.validated_data)
        data = {
            "strategy_id": capacity.strategy_id,
            "min_copy_capital": capacity.min_copy_capital,
            "follower_slots": capacity.follower_slots,
            "followers": capacity.strategy.copiers_count,
        }
        return Response(StrategyCapacityOutputSerializer(data).data)


class StrategyRecommendationApi(APIView):
    """The copy settings a leader recommends for their strategy: the copy form starts from them,
    and the follower's own choice is what the copy gets. Settings left out or null are not
    recommended; an empty body withdraws the recommendation."""

    class InputSerializer(StrictInputSerializer):
        allocation_percent = serializers.DecimalField(max_digits=6, decimal_places=2, required=False, allow_null=True)
        max_drawdown_stop = serializers.DecimalField(max_digits=5, decimal_places=2, required=False, allow_null=True)
        max_slippage_percent = serializers.DecimalField(max_digits=5, decimal_places=2, required=False, allow_null=True)
        take_profit_percent = serializers.DecimalField(max_digits=7, decimal_places=2, required=False, allow_null=True)
        stop_loss_percent = serializers.DecimalField(max_digits=5, decimal_places=2, required=False, allow_null=True)
        max_open_positions = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(
        operation_id="strategy_recommended_settings_set",
        request=InputSerializer,
        responses=inline_serializer(
            "StrategyRecommendedSettings", {"strategy_id": serializers.IntegerField(), "settings": serializers.DictField()}
        ),
    )
    def put(self, request, strategy_id: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        settings_given = {name: value for name, value in serializer.validated_data.items() if value is not None}
        recommendation = strategy_recommendation_set(owner=request.user, strategy_id=strategy_id, settings=settings_given)
        return Response({"strategy_id": recommendation.strategy_id, "settings": recommendation.settings})


class StrategyInvitationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    strategy_id = serializers.IntegerField()
    token = serializers.CharField()
    link = serializers.CharField(help_text="The leader page with the token: whoever opens it may see and copy the strategy.")
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


def _invitation_payload(invitation) -> dict:
    return {
        "id": invitation.pk,
        "strategy_id": invitation.strategy_id,
        "token": invitation.token,
        "link": f"/leaders/{invitation.strategy_id}/?invitation={invitation.token}",
        "created_at": invitation.created_at,
        "revoked_at": invitation.revoked_at,
    }


class StrategyInvitationCreateApi(APIView):
    """A new invitation link to one of your strategies: a strategy not listed on the
    leaderboard is seen and copied by whoever holds a valid link (the copy start's
    `invitation`); revoke it to let no one else in."""

    @extend_schema(operation_id="strategy_invitation_create", request=None, responses={201: StrategyInvitationOutputSerializer})
    def post(self, request, strategy_id: int):
        invitation = strategy_invitation_create(owner=request.user, strategy_id=strategy_id)
        return Response(StrategyInvitationOutputSerializer(_invitation_payload(invitation)).data, status=status.HTTP_201_CREATED)


class StrategyInvitationRevokeApi(APIView):
    @extend_schema(operation_id="strategy_invitation_revoke", request=None, responses=StrategyInvitationOutputSerializer)
    def post(self, request, invitation_id: int):
        invitation = strategy_invitation_revoke(owner=request.user, invitation_id=invitation_id)
        return Response(StrategyInvitationOutputSerializer(_invitation_payload(invitation)).data)
