"""REST for billing: the Stripe webhook, a follower's invoices, a leader's earnings, payouts."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.errors import WebhookSignatureError
from billing.fees import period_parse
from billing.models import FeeAssessment, Invoice, InvoiceLine, Payout
from billing.roles import PAYOUT_CREATE_PERMISSION
from billing.selectors import earnings_summary, invoice_list, payout_calculate, signal_provider_get_for
from billing.services import payout_prepare, stripe_event_handle
from billing.stripe_gateway import verify_webhook
from core.api_conventions import Pagination, StrictInputSerializer, paginated_response
from core.errors import ApplicationError, ThrottledError
from core.ids import IdField
from core.throttling import client_throttle_take

MONEY = {"max_digits": 20, "decimal_places": 2}
MAX_PERIOD_DAYS = 366


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2026-10"})
class MonthField(serializers.DateField):
    """A billing period, the first day of a month, shown as YYYY-MM (not a full date)."""

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m", **kwargs)


class StripeWebhookApi(APIView):
    """Stripe's events about our invoices and transfers. The Stripe-Signature header is the authentication.

    Stripe's own limits, not a leader's: a correctly signed event is never throttled (on
    the 1st of a month thousands of invoices' news arrives at once from a few Stripe
    addresses, and a 429 only delays it by Stripe's backoff). The signature is checked first;
    requests that fail it take from a bounded budget per client ("stripe_webhook_unsigned").
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    class OutputSerializer(serializers.Serializer):
        received = serializers.BooleanField()
        duplicate = serializers.BooleanField()

    @extend_schema(
        operation_id="billing_stripe_webhook",
        request=OpenApiTypes.OBJECT,
        responses={200: OutputSerializer},
        parameters=[OpenApiParameter("Stripe-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True)],
        auth=[],
        description="400 when the signature is missing, wrong or older than the replay window (300 s); 429 when a client sends too many such requests. Signed events are never throttled.",
    )
    def post(self, request):
        if not settings.STRIPE_WEBHOOK_SECRET:
            raise ApplicationError("Stripe webhooks are not configured on this server.")
        try:
            event = verify_webhook(
                payload=request.body, sig_header=request.headers.get("Stripe-Signature"), secret=settings.STRIPE_WEBHOOK_SECRET
            )
        except WebhookSignatureError as error:
            wait = client_throttle_take(request=request, scope="stripe_webhook_unsigned")
            if wait > 0:
                raise ThrottledError(wait) from error
            raise ApplicationError(f"Invalid Stripe webhook: {error}") from error
        handled = stripe_event_handle(event=event)
        return Response({"received": True, "duplicate": not handled})


class InvoiceOutputSerializer(serializers.ModelSerializer):
    class LineSerializer(serializers.ModelSerializer):
        class CopySerializer(serializers.Serializer):
            id = serializers.IntegerField()
            started_at = serializers.DateTimeField()

        class BasisSerializer(serializers.ModelSerializer):
            """What the line was computed from, as the invoices page states it."""

            class Meta:
                model = FeeAssessment
                fields = [
                    "period_net_pnl",
                    "cumulative_pnl",
                    "hwm_before",
                    "hwm_after",
                    "rate_percent",
                    "subscription_fee_monthly",
                    "live_days",
                    "days_in_period",
                ]
                extra_kwargs = {
                    "period_net_pnl": {"help_text": "net realised P&L this month of the copies this line covers"},
                    "cumulative_pnl": {"help_text": "the follower's all-time net P&L with this strategy, after this month"},
                    "hwm_before": {"help_text": "high-water mark before this month: fees are charged only on profit above it"},
                    "hwm_after": {"help_text": "high-water mark after this month"},
                    "rate_percent": {"help_text": "performance fee, percent of the new profit above the mark"},
                    "subscription_fee_monthly": {"help_text": "subscription for a whole month"},
                    "live_days": {"help_text": "days of the month the copies were live"},
                    "days_in_period": {"help_text": "days in the month"},
                }

        amount = serializers.DecimalField(**MONEY)
        strategy_id = serializers.IntegerField(source="assessment.strategy_id")
        copies = CopySerializer(
            source="assessment.copies.all", many=True, help_text="the follower's copies of the strategy this line covers"
        )
        basis = BasisSerializer(source="assessment", read_only=True)

        class Meta:
            model = InvoiceLine
            fields = ["id", "kind", "description", "amount", "strategy_id", "copies", "basis"]

    period = MonthField()
    total = serializers.DecimalField(**MONEY)
    lines = LineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = ["id", "period", "currency", "total", "status", "lines", "finalized_at", "paid_at", "payment_failed_at", "voided_at"]


class InvoiceListApi(APIView):
    pagination_class = Pagination

    @extend_schema(operation_id="billing_invoices_list", responses=InvoiceOutputSerializer(many=True))
    def get(self, request):
        queryset = invoice_list(follower=request.user).prefetch_related("lines__assessment__copies")
        return paginated_response(request=request, view=self, queryset=queryset, serializer_class=InvoiceOutputSerializer)


class EarningsAmountsSerializer(serializers.Serializer):
    gross = serializers.DecimalField(**MONEY, help_text="fees collected from followers (paid invoices)")
    earned = serializers.DecimalField(**MONEY, help_text="your share of the collected fees")
    paid_out = serializers.DecimalField(**MONEY, help_text="of which already paid to you")
    pending_payout = serializers.DecimalField(**MONEY, help_text="earned, not yet paid to you")
    awaiting_collection = serializers.DecimalField(**MONEY, help_text="your share of fees billed but not yet paid")


class EarningsMonthSerializer(EarningsAmountsSerializer):
    period = serializers.CharField(help_text="YYYY-MM")


class EarningsFollowerSerializer(EarningsAmountsSerializer):
    follower_id = serializers.IntegerField()
    follower_name = serializers.CharField(help_text="The follower's public display name (never a username).")


class EarningsApi(APIView):
    class FilterSerializer(StrictInputSerializer):
        limit = serializers.IntegerField(
            min_value=1, max_value=Pagination.max_limit, default=Pagination.default_limit, help_text="by_follower rows"
        )
        offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0, help_text="first by_follower row")

    class OutputSerializer(serializers.Serializer):
        all_time = EarningsAmountsSerializer()
        by_month = EarningsMonthSerializer(many=True)
        by_follower = EarningsFollowerSerializer(many=True, help_text="one page: limit rows from offset")
        by_follower_count = serializers.IntegerField(help_text="followers in all pages")

    @extend_schema(operation_id="billing_earnings", parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        summary = earnings_summary(
            payee=request.user, follower_limit=filters.validated_data["limit"], follower_offset=filters.validated_data["offset"]
        )
        return Response(self.OutputSerializer(summary).data)


class PayoutOutputSerializer(serializers.ModelSerializer):
    period = MonthField()
    gross = serializers.DecimalField(**MONEY)
    payee_amount = serializers.DecimalField(**MONEY)
    platform_amount = serializers.DecimalField(**MONEY)

    class Meta:
        model = Payout
        fields = [
            "id",
            "payee_id",
            "period",
            "sequence",
            "currency",
            "gross",
            "payee_amount",
            "platform_amount",
            "status",
            "tx_hash",
            "ready_at",
            "paid_at",
        ]


class PayoutCalculateApi(APIView):
    class InputSerializer(serializers.Serializer):
        signal_provider_id = IdField()
        period_days = serializers.IntegerField(min_value=1, max_value=MAX_PERIOD_DAYS, default=30)

    class OutputSerializer(serializers.Serializer):
        signal_provider_id = serializers.IntegerField()
        period_days = serializers.IntegerField()
        window_start = serializers.DateTimeField()
        window_end = serializers.DateTimeField()
        payee_share = serializers.DecimalField(max_digits=5, decimal_places=4)
        gross = serializers.DecimalField(**MONEY)
        payee_amount = serializers.DecimalField(**MONEY)
        platform_amount = serializers.DecimalField(**MONEY)
        subscription_fees = serializers.DecimalField(**MONEY)
        performance_fees = serializers.DecimalField(**MONEY)
        awaiting_collection = serializers.DecimalField(**MONEY)
        paid_invoices = serializers.IntegerField()

    @extend_schema(
        operation_id="marketplace_payouts_calculate",
        parameters=[InputSerializer],
        responses=OutputSerializer,
        description="Preview of a provider's payout: fees collected over the last period_days, split. The provider or the billing role.",
    )
    def get(self, request):
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        provider = signal_provider_get_for(user=request.user, signal_provider_id=serializer.validated_data["signal_provider_id"])
        preview = payout_calculate(provider=provider, period_days=serializer.validated_data["period_days"], now=timezone.now())
        return Response(self.OutputSerializer(preview).data)


class CanCreatePayouts(BasePermission):
    message = "Only the billing role creates payouts."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(PAYOUT_CREATE_PERMISSION))


class PayoutCreateApi(APIView):
    permission_classes = [CanCreatePayouts]

    class InputSerializer(serializers.Serializer):
        signal_provider_id = IdField()
        period = serializers.CharField(max_length=20, help_text="a past month, YYYY-MM")

    @extend_schema(
        operation_id="marketplace_payouts_create",
        request=InputSerializer,
        responses={201: PayoutOutputSerializer, 200: PayoutOutputSerializer},
        description="The billing role: the provider's payout for a billed month (201 new, 200 already there).",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        period = period_parse(serializer.validated_data["period"], now=timezone.now())
        provider = signal_provider_get_for(user=request.user, signal_provider_id=serializer.validated_data["signal_provider_id"])
        existed = Payout.objects.filter(payee_id=provider.user_id, period=period).exists()
        payout = payout_prepare(payee_id=provider.user_id, period=period)
        if payout is None:
            raise ApplicationError(
                "Nothing was billed for this provider in that period.",
                {"signal_provider_id": provider.id, "period": serializer.validated_data["period"]},
            )
        return Response(PayoutOutputSerializer(payout).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)
