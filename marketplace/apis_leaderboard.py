"""REST for the copy-trading leaderboard (`/api/copy-trading/top` and `leader/<id>`): the
strategies a follower can copy, with the audited metrics of the requested window.

Units are those of `marketplace.apis` (the marketplace's providers): returns and drawdowns are
percentages, win rates fractions, ratios plain numbers, `null` undefined.
"""

from decimal import ROUND_HALF_UP, Decimal

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from copytrade.apis import LeaderTradePublicOutputSerializer
from copytrade.models import Strategy
from copytrade.quality import COPIES_WELL_MAX_GAP_BPS, COPIES_WELL_MIN_ENDED, COPIES_WELL_MIN_FILL_PERCENT
from core.api_conventions import PageFilterSerializer, Pagination, StrictInputSerializer, paginated_response
from core.selectors import display_name
from marketplace.apis import (
    CoverageOutputSerializer,
    FeeTermsOutputSerializer,
    leaderboard_sort_field,
)
from marketplace.metrics import Coverage, return_percent
from marketplace.selectors import TOP_WINDOWS, ratios_note, strategy_capacity, strategy_get_leader, strategy_leaderboard
from marketplace.terms import fee_terms_offered

METRIC_FIELDS = (
    "as_of",
    "total_return",
    "sharpe",
    "sortino",
    "calmar",
    "profit_factor",
    "profit_factor_infinite",
    "win_rate",
    "max_drawdown",
    "coverage",
    "ratios_note",
    "ranked",
)


class MetricsMixin(serializers.Serializer):
    """Audited performance metrics of the requested window, annotated by the selector
    (marketplace.StrategyMetrics; definitions in marketplace/metrics.py). Null until the
    daily metrics run has measured the strategy. total_return is a percentage (8.4 = +8.4 %)
    and max_drawdown a positive one (25.0 = 25 % below the peak), win_rate a fraction; the ratios are null for near-constant returns or a
    total loss, and below RATIOS_MIN_DAILY_RETURNS daily returns or RATIOS_MIN_CLOSED_TRADES
    closed trades in the window (`ratios_note` says so). `coverage` says how many days and
    closed trades the figures rest on."""

    as_of = serializers.DateField(source="metrics_as_of", read_only=True, allow_null=True, default=None)
    total_return = serializers.SerializerMethodField(help_text="A percentage: 8.4 is +8.4 %.")
    sharpe = serializers.FloatField(read_only=True, allow_null=True, default=None)
    sortino = serializers.FloatField(read_only=True, allow_null=True, default=None)
    calmar = serializers.FloatField(read_only=True, allow_null=True, default=None)
    profit_factor = serializers.FloatField(
        read_only=True, allow_null=True, default=None, help_text="Null with profit_factor_infinite true: profits and no losing trade."
    )
    profit_factor_infinite = serializers.BooleanField(read_only=True, allow_null=True, default=None)
    win_rate = serializers.FloatField(read_only=True, allow_null=True, default=None)
    max_drawdown = serializers.FloatField(
        read_only=True, allow_null=True, default=None, help_text="A positive percentage: 25.0 is 25 % below the peak."
    )
    coverage = serializers.SerializerMethodField()
    ratios_note = serializers.SerializerMethodField(help_text="Why the ratios are null for this window; null when they are shown.")
    ranked = serializers.BooleanField(
        read_only=True,
        help_text="False while the whole record is shorter than the minimum to be ranked (LEADERBOARD_MIN_DAYS days "
        "and LEADERBOARD_MIN_CLOSED_TRADES closed trades): listed as new, after the ranked records.",
    )

    def get_total_return(self, strategy) -> float | None:
        return return_percent(strategy.total_return)

    def get_ratios_note(self, strategy) -> str | None:
        return ratios_note(days=strategy.days, closed_trades=strategy.closed_trades)

    @extend_schema_field(CoverageOutputSerializer)
    def get_coverage(self, strategy) -> dict:
        return CoverageOutputSerializer(
            Coverage(days=strategy.days, closed_trades=strategy.closed_trades, first_day=strategy.first_day, last_day=strategy.last_day)
        ).data


class CopyQualityMixin(serializers.Serializer):
    """The last 30 days of copy quality the leaderboard sorts and filters on (copytrade/quality.py)."""

    copies_well = serializers.BooleanField(
        read_only=True,
        help_text=f"Over the last 30 days: at least {COPIES_WELL_MIN_ENDED} copies of its trades ended, at least "
        f"{COPIES_WELL_MIN_FILL_PERCENT} % of them filled, and a median price gap of at most {COPIES_WELL_MAX_GAP_BPS} "
        "basis points.",
    )
    copy_ended_30d = serializers.IntegerField(read_only=True, help_text="Copies of its trades ended (filled, skipped or failed).")
    copy_fill_rate_30d = serializers.SerializerMethodField(help_text="Filled / ended, a fraction; null when none ended.")
    copy_gap_median_bps_30d = serializers.SerializerMethodField(
        help_text="Median price gap of the fills in basis points, positive = worse for the follower; null without fills."
    )

    def get_copy_fill_rate_30d(self, strategy) -> float | None:
        return strategy.copy_filled_30d / strategy.copy_ended_30d if strategy.copy_ended_30d else None

    def get_copy_gap_median_bps_30d(self, strategy) -> str | None:
        median = strategy.copy_gap_median_30d
        return None if median is None else str(Decimal(repr(median)).quantize(Decimal("0.01"), ROUND_HALF_UP))


class LeaderboardOutputSerializer(CopyQualityMixin, MetricsMixin, serializers.ModelSerializer):
    owner = serializers.SerializerMethodField(help_text="The leader's public display name (never a username).")
    fee_terms = serializers.SerializerMethodField()
    follower_slots = serializers.SerializerMethodField(help_text="The followers its leader takes; null: no limit.")
    slots_left = serializers.SerializerMethodField(help_text="Slots not taken; 0: full, new copies are refused (409).")
    min_copy_capital = serializers.SerializerMethodField(help_text="The least copy capital its leader takes; null: none.")

    class Meta:
        model = Strategy
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "owner",
            "verified_badge",
            "accepting_copies",
            "copiers_count",
            "follower_slots",
            "slots_left",
            "min_copy_capital",
            "fee_terms",
            "created_at",
            *METRIC_FIELDS,
            "copies_well",
            "copy_ended_30d",
            "copy_fill_rate_30d",
            "copy_gap_median_bps_30d",
        ]
        read_only_fields = fields

    @extend_schema_field(FeeTermsOutputSerializer)
    def get_fee_terms(self, strategy) -> dict:
        return FeeTermsOutputSerializer(fee_terms_offered(strategy=strategy)).data

    def get_owner(self, strategy) -> str:
        return display_name(strategy.owner)

    def get_follower_slots(self, strategy) -> int | None:
        capacity = strategy_capacity(strategy)
        return None if capacity is None else capacity.follower_slots

    def get_slots_left(self, strategy) -> int | None:
        capacity = strategy_capacity(strategy)
        return None if capacity is None else capacity.slots_left(strategy.copiers_count)

    @extend_schema_field(serializers.DecimalField(max_digits=None, decimal_places=None, allow_null=True))
    def get_min_copy_capital(self, strategy) -> str | None:
        capacity = strategy_capacity(strategy)
        return None if capacity is None or capacity.min_copy_capital is None else str(capacity.min_copy_capital)


class LeaderDetailOutputSerializer(LeaderboardOutputSerializer):
    recent_trades = LeaderTradePublicOutputSerializer(many=True)

    class Meta(LeaderboardOutputSerializer.Meta):
        fields = [*LeaderboardOutputSerializer.Meta.fields, "status", "recent_trades"]
        read_only_fields = fields


class CopyTopApi(APIView):
    """The leaderboard, public like its page."""

    permission_classes = [AllowAny]
    pagination_class = Pagination

    class FilterSerializer(PageFilterSerializer):
        kind = serializers.ChoiceField(choices=Strategy.Kind.choices, required=False)
        min_copiers = serializers.IntegerField(min_value=0, required=False)
        verified = serializers.BooleanField(required=False)
        copies_well = serializers.BooleanField(
            required=False, help_text="true: only leaders whose copies followed well over the last 30 days (see copies_well)."
        )
        sort = leaderboard_sort_field(default="followers")
        window = serializers.ChoiceField(choices=list(TOP_WINDOWS), default="30d")

    @extend_schema(operation_id="copy_trading_top", parameters=[FilterSerializer], responses=LeaderboardOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return paginated_response(
            request=request, view=self, queryset=strategy_leaderboard(**filters.filters), serializer_class=LeaderboardOutputSerializer
        )


class LeaderDetailApi(APIView):
    class FilterSerializer(StrictInputSerializer):
        invitation = serializers.CharField(
            max_length=64, required=False, default="", help_text="An invitation link's token: a strategy not listed, seen by its invitees."
        )

    @extend_schema(operation_id="copy_trading_leader", parameters=[FilterSerializer], responses=LeaderDetailOutputSerializer)
    def get(self, request, strategy_id: int):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        strategy = strategy_get_leader(user=request.user, strategy_id=strategy_id, invitation=filters.validated_data["invitation"])
        return Response(LeaderDetailOutputSerializer(strategy).data)
