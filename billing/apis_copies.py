"""A follower's copies over REST with what they pay for them: gross P&L, fees billed and
accrued this month, and net. Served here, not in copytrade, because the fees are billing's
(copytrade, below, cannot read them); the copy itself is serialised as copytrade does."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.apis_quality import CopyQualityOutputSerializer, copy_quality_payload
from billing.quality import copy_quality_reports_of_copies
from billing.selectors import copy_results
from copytrade.apis import CopyOutputSerializer, CopyUpdateApi
from copytrade.selectors import PositionMarker, copy_get, copy_list
from core.api_conventions import PageFilterSerializer, Pagination

AMOUNT = {"max_digits": None, "decimal_places": settings.MONEY_DECIMAL_PLACES, "read_only": True}


class CopyResultsOutputSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="The billing currency: fees, gross_pnl and net_pnl are in it.")
    quote_currency = serializers.CharField(help_text="The market's quote currency: gross_pnl_quote is in it.")
    gross_pnl_quote = serializers.DecimalField(**AMOUNT, help_text="Realised P&L before fees, in the quote currency.")
    gross_pnl = serializers.DecimalField(
        **AMOUNT, help_text="The same realised P&L in the billing currency, each fill converted at its own rate (what billing sums)."
    )
    fees_billed = serializers.DecimalField(
        **AMOUNT,
        help_text="Invoiced fees of the months billed on this copy. A month's fees for a strategy are billed once over all "
        "your copies of it, on the latest copy that month.",
    )
    accrued_performance_fee = serializers.DecimalField(
        **AMOUNT, help_text="This month so far: the performance fee on profit above your high-water mark if the month ended now."
    )
    accrued_subscription_fee = serializers.DecimalField(**AMOUNT, help_text="This month so far: the subscription for the days copied.")
    fees_accrued = serializers.DecimalField(**AMOUNT)
    fees = serializers.DecimalField(**AMOUNT, help_text="fees_billed + fees_accrued.")
    net_pnl = serializers.DecimalField(**AMOUNT, help_text="gross_pnl - fees: what the copy has made you after what you pay.")


class CopyWithResultsOutputSerializer(CopyOutputSerializer):
    results = serializers.SerializerMethodField()
    copy_quality = serializers.SerializerMethodField()

    class Meta(CopyOutputSerializer.Meta):
        fields = [*CopyOutputSerializer.Meta.fields, "results", "copy_quality"]
        read_only_fields = fields

    @extend_schema(responses=CopyResultsOutputSerializer)
    def get_results(self, copy) -> dict:
        return CopyResultsOutputSerializer(self.context["results"][copy.pk]).data

    @extend_schema_field(CopyQualityOutputSerializer)
    def get_copy_quality(self, copy) -> dict:
        return copy_quality_payload(self.context["quality"][copy.pk])


def _copy_with_results(*, follower, copy_id: int) -> Response:
    copy = copy_get(follower=follower, copy_id=copy_id)
    now = timezone.now()
    results = copy_results(copies=[copy], now=now)
    quality = copy_quality_reports_of_copies(copies=[copy], now=now)
    context = {"marker": PositionMarker(), "results": results, "quality": quality}
    return Response(CopyWithResultsOutputSerializer(copy, context=context).data)


class MyCopiesWithResultsApi(APIView):
    pagination_class = Pagination

    class FilterSerializer(PageFilterSerializer):
        include_stopped = serializers.BooleanField(default=False)

    @extend_schema(
        operation_id="copy_trading_my_copies",
        parameters=[FilterSerializer],
        responses=CopyWithResultsOutputSerializer(many=True),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        copies = copy_list(follower=request.user, include_stopped=filters.validated_data["include_stopped"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(copies, request, view=self)
        now = timezone.now()
        context = {
            "marker": PositionMarker(),
            "results": copy_results(copies=page, now=now),
            "quality": copy_quality_reports_of_copies(copies=page, now=now),
        }
        return paginator.get_paginated_response(CopyWithResultsOutputSerializer(page, many=True, context=context).data)


class CopyDetailApi(CopyUpdateApi):
    """One copy with its results (GET), or a change of its settings (PATCH, copytrade's rules)."""

    @extend_schema(operation_id="copy_trading_copy", responses=CopyWithResultsOutputSerializer)
    def get(self, request, copy_id: int):
        return _copy_with_results(follower=request.user, copy_id=copy_id)

    @extend_schema(operation_id="copy_trading_update", request=CopyUpdateApi.InputSerializer, responses=CopyWithResultsOutputSerializer)
    def patch(self, request, copy_id: int):
        super().patch(request, copy_id)
        return _copy_with_results(follower=request.user, copy_id=copy_id)
