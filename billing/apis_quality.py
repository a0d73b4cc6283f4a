"""`copy_quality` over REST: on the leader endpoint (`/api/copy-trading/leader/<id>`, all its
copiers) and on a follower's copies (billing/apis_copies.py). Served by billing because the
divergence needs what copiers pay (billing/quality.py); the rest is copytrade/quality.py's."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from billing.quality import CopyQualityReport, copy_quality_report_of_strategy
from copytrade.quality import WINDOWS
from marketplace.apis_leaderboard import LeaderDetailApi, LeaderDetailOutputSerializer
from marketplace.metrics import return_percent
from marketplace.selectors import strategy_get_leader

GAP = {"max_digits": None, "decimal_places": 2, "allow_null": True}


class ReasonCountOutputSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="The code (CopiedTrade.Reason).")
    label = serializers.CharField(help_text="The reason in words.")
    count = serializers.IntegerField()


class CopyQualityWindowOutputSerializer(serializers.Serializer):
    window = serializers.CharField(help_text='"30d": copied trades that ended in the last 30 days; "all": all time.')
    filled = serializers.IntegerField(help_text="Mirrored leader trades filled (partly filled included).")
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    fill_rate = serializers.FloatField(
        allow_null=True, help_text="filled / (filled + skipped + failed), a fraction; null before any ended."
    )
    skip_reasons = ReasonCountOutputSerializer(many=True)
    fail_reasons = ReasonCountOutputSerializer(many=True)
    measured = serializers.IntegerField(help_text="Fills with a recorded delay and price gap (what the figures below rest on).")
    delay_p50_ms = serializers.IntegerField(
        allow_null=True,
        help_text="Median milliseconds from the leader's fill (a signal-only leader: the signal's arrival) to the exchange's "
        "acknowledgement of the follower's order (the exchange's timestamp; the platform's clock when it gave none).",
    )
    delay_p95_ms = serializers.IntegerField(allow_null=True, help_text="95th percentile of the same, interpolated.")
    gap_mean_bps = serializers.DecimalField(
        **GAP, help_text="Mean price gap in basis points: follower's average fill vs the leader's price, positive = worse for the follower."
    )
    gap_median_bps = serializers.DecimalField(**GAP, help_text="Median of the same.")
    copiers_net_return = serializers.FloatField(
        allow_null=True, help_text="A percentage: the copy's net return (a leader's: its copies' median), after fees."
    )
    leader_return = serializers.FloatField(allow_null=True, help_text="A percentage: the leader's return over the same days.")
    divergence = serializers.FloatField(
        allow_null=True, help_text="Percentage points: net return minus the leader's (a leader's: its copies' median). Negative: kept less."
    )
    divergence_copies = serializers.IntegerField(help_text="Copies the divergence compares.")
    leader_as_of = serializers.DateField(allow_null=True, help_text="The last day of the leader's recorded equity.")


class CapacityNoteOutputSerializer(serializers.Serializer):
    shown = serializers.BooleanField(help_text="True when the gap clearly grows with a copier's place in the fan-out.")
    sentence = serializers.CharField(help_text="The note in words; empty when not shown.")
    fills = serializers.IntegerField(help_text="Fills measured (last 30 days, fan-outs of 10 copies or more).")
    fanouts = serializers.IntegerField()
    correlation = serializers.FloatField(allow_null=True)
    slope_bps_per_100 = serializers.DecimalField(**GAP, help_text="Basis points of gap more per 100 places later.")


class CopyQualityOutputSerializer(serializers.Serializer):
    windows = CopyQualityWindowOutputSerializer(many=True)
    capacity_note = CapacityNoteOutputSerializer(allow_null=True, help_text="A leader's only; null on a copy.")


def _percent(fraction) -> float | None:
    return None if fraction is None else return_percent(float(fraction))


def copy_quality_payload(report: CopyQualityReport) -> dict:
    """The `copy_quality` body of a report (its output serializer's data)."""
    windows = []
    for window in WINDOWS:
        figures, divergence = report.quality.windows[window], report.divergence[window]
        windows.append(
            {
                "window": window,
                "filled": figures.filled,
                "skipped": figures.skipped,
                "failed": figures.failed,
                "fill_rate": None if figures.fill_rate is None else float(figures.fill_rate),
                "skip_reasons": figures.skip_reasons,
                "fail_reasons": figures.fail_reasons,
                "measured": figures.measured,
                "delay_p50_ms": figures.delay_p50_ms,
                "delay_p95_ms": figures.delay_p95_ms,
                "gap_mean_bps": figures.gap_mean_bps,
                "gap_median_bps": figures.gap_median_bps,
                "copiers_net_return": _percent(divergence.copiers_net_return),
                "leader_return": _percent(divergence.leader_return),
                "divergence": _percent(divergence.divergence),
                "divergence_copies": divergence.copies,
                "leader_as_of": divergence.leader_as_of,
            }
        )
    return CopyQualityOutputSerializer({"windows": windows, "capacity_note": report.quality.capacity}).data


class LeaderDetailWithQualityOutputSerializer(LeaderDetailOutputSerializer):
    copy_quality = serializers.SerializerMethodField()

    class Meta(LeaderDetailOutputSerializer.Meta):
        fields = [*LeaderDetailOutputSerializer.Meta.fields, "copy_quality"]
        read_only_fields = fields

    @extend_schema_field(CopyQualityOutputSerializer)
    def get_copy_quality(self, strategy) -> dict:
        return copy_quality_payload(copy_quality_report_of_strategy(strategy_id=strategy.pk, now=self.context["now"]))


class LeaderDetailWithQualityApi(LeaderDetailApi):
    """The leader page's data with its copy quality (all its copiers)."""

    @extend_schema(
        operation_id="copy_trading_leader", parameters=[LeaderDetailApi.FilterSerializer], responses=LeaderDetailWithQualityOutputSerializer
    )
    def get(self, request, strategy_id: int):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        # A strategy not listed is seen with a valid invitation link's token.
        strategy = strategy_get_leader(user=request.user, strategy_id=strategy_id, invitation=filters.validated_data["invitation"])
        return Response(LeaderDetailWithQualityOutputSerializer(strategy, context={"now": timezone.now()}).data)
