"""REST for strategies, signals and copy trading: one view per operation, each with its
own small input/output serializers. Errors come out in the one shape of `core.api_conventions`."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from copytrade.copy_settings import SETTINGS, copy_change_effects
from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade, PositionDrift, Strategy
from copytrade.reasons import copied_trade_reason_text, drift_action_text, drift_text, pause_reason_text
from copytrade.selectors import (
    PositionMarker,
    copied_trade_list,
    copy_get,
    leader_trade_list,
    strategy_get_owned,
    strategy_list_owned,
)
from copytrade.services.copies import copy_pause, copy_resume, copy_start, copy_stop, copy_update, copy_update_check
from copytrade.services.leader_trades import (
    ACTIONS,
    MAX_EXTERNAL_ID_LENGTH,
    SIGNAL_MAX,
    LeaderSignal,
    LeaderTradeOutcome,
    leader_signal_parse,
    rest_signal_receive,
    webhook_signal_receive,
)
from copytrade.services.strategies import strategy_create, strategy_update, strategy_webhook_secret_rotate
from copytrade.sizing import SIZING_PARAMETER
from core.api_conventions import PageFilterSerializer, Pagination, SecretResponse, StrictInputSerializer, paginated_response
from core.errors import ApplicationError
from core.ids import IdField
from core.money import ZERO
from core.terms import FeeTerms
from core.throttling import client_ip
from exchanges.models import MarginMode

MONEY = {"max_digits": settings.MONEY_MAX_DIGITS, "decimal_places": settings.MONEY_DECIMAL_PLACES}
QUANTITY = {"max_digits": settings.QUANTITY_MAX_DIGITS, "decimal_places": settings.QUANTITY_DECIMAL_PLACES}
# Computed at request time, null when no price can be had; strings like every other amount
# (a bare Decimal would be rendered as a JSON float).
MARK_PRICE = serializers.DecimalField(max_digits=None, decimal_places=None, allow_null=True, read_only=True)
UNREALIZED_PNL = serializers.DecimalField(max_digits=None, decimal_places=settings.MONEY_DECIMAL_PLACES, allow_null=True, read_only=True)


def _unbounded_decimal(**kwargs) -> serializers.DecimalField:
    """Any finite decimal; precision is the service's business (it truncates to storage)."""
    return serializers.DecimalField(max_digits=None, decimal_places=None, required=False, **kwargs)


def _symbol_list_field(**kwargs) -> serializers.ListField:
    """Unified ccxt symbols (`BTC/USDT`, `BTC/USDT:USDT`); the service resolves them on the
    copy's exchange."""
    return serializers.ListField(child=serializers.CharField(max_length=50), max_length=Copy.MAX_SYMBOLS, allow_empty=True, **kwargs)


def _optional_percent(name: str, **kwargs) -> serializers.DecimalField:
    """A percentage a copy may leave unset (null); its bounds are the service's."""
    return serializers.DecimalField(
        max_digits=7, decimal_places=2, required=False, allow_null=True, help_text=SETTINGS[name].help_text, **kwargs
    )


# --- Output serializers ----------------------------------------------------------------


class StrategyOutputSerializer(serializers.ModelSerializer):
    """The owner's view of a strategy (never the webhook secret)."""

    class Meta:
        model = Strategy
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "leader_account_id",
            "declared_capital",
            "quote_currency",
            "source",
            "status",
            "is_public_leader",
            "copy_override_percent",
            "verified_badge",
            "accepting_copies",
            "copiers_count",
            "last_sequence",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class StrategyWithSecretOutputSerializer(StrategyOutputSerializer):
    """Create and rotate only: the one response that carries the webhook secret."""

    class Meta(StrategyOutputSerializer.Meta):
        fields = [*StrategyOutputSerializer.Meta.fields, "webhook_secret"]
        read_only_fields = fields


class LeaderTradePublicOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeaderTrade
        fields = [
            "id",
            "sequence",
            "symbol",
            "side",
            "effect",
            "amount",
            "price",
            "notional",
            "fee",
            "reduce_fraction",
            "position_after",
            "realized_pnl",
            "source",
            "traded_at",
            "recorded_at",
        ]
        read_only_fields = fields


class LeaderTradeOwnerOutputSerializer(LeaderTradePublicOutputSerializer):
    """Adds what only the leader sees: the signal's id, the order and the equity it was sized on."""

    class Meta(LeaderTradePublicOutputSerializer.Meta):
        fields = [*LeaderTradePublicOutputSerializer.Meta.fields, "external_id", "exchange_order_id", "leader_equity"]
        read_only_fields = fields


class SignalOutputSerializer(serializers.Serializer):
    leader_trade_id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    effect = serializers.CharField(help_text="open | increase | reduce | close | flip (close then open)")
    duplicate = serializers.BooleanField()
    trades = LeaderTradeOwnerOutputSerializer(many=True)


def _signal_response(outcome: LeaderTradeOutcome) -> Response:
    first = outcome.trades[0]
    data = {
        "leader_trade_id": first.pk,
        "sequence": first.sequence,
        "effect": outcome.effect,
        "duplicate": not outcome.created,
        "trades": outcome.trades,
    }
    return Response(SignalOutputSerializer(data).data, status=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK)


class CopiedTradeOutputSerializer(serializers.ModelSerializer):
    reason = serializers.ChoiceField(
        choices=CopiedTrade.Reason.choices,
        allow_blank=True,
        read_only=True,
        help_text="Why it was skipped or failed, or what changed its fill (a code); empty when none.",
    )
    reason_text = serializers.SerializerMethodField(help_text="The reason as a person reads it, with its numbers.")
    # In the billing currency, as a person reads it (cents); pnl_quote keeps the quote's precision.
    pnl_billing = serializers.DecimalField(
        max_digits=settings.MONEY_MAX_DIGITS,
        decimal_places=2,
        read_only=True,
        help_text="pnl_quote × quote_rate: the P&L in the billing currency (USD), what fees are charged on.",
    )

    class Meta:
        model = CopiedTrade
        fields = [
            "id",
            "copy_id",
            "leader_trade_id",
            "strategy_id",
            "kind",
            "sequence",
            "symbol",
            "side",
            "effect",
            "leader_size_quote",
            "follower_size_quote",
            "requested_amount",
            "filled_amount",
            "average_price",
            "fee",
            "quote_currency",
            "pnl_quote",
            "quote_rate",
            "pnl_billing",
            "status",
            "reason",
            "reason_text",
            "recorded_at",
            "finished_at",
            "delay_ms",
            "price_gap_bps",
            "fanout_place",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "delay_ms": {
                "help_text": "Milliseconds from the leader's fill (a signal-only leader: the signal's arrival) to the exchange's "
                "acknowledgement of this order (copytrade/quality.py); null unless a copy of a leader trade filled."
            },
            "price_gap_bps": {
                "help_text": "The fill's average price against the leader's, in basis points, positive = worse for the follower."
            },
            "fanout_place": {"help_text": "This copy's place in the leader trade's fan-out (1 = first); null for platform closes."},
            "pnl_quote": {"help_text": "Realised net P&L of the fill in the market's quote currency (quote_currency), after its fee."},
            "quote_rate": {"help_text": "Billing currency per unit of the quote at the fill; null when nothing was converted."},
        }

    def get_reason_text(self, trade) -> str:
        return copied_trade_reason_text(trade)


class FollowerPositionOutputSerializer(serializers.ModelSerializer):
    mark_price = serializers.SerializerMethodField()
    liquidation_price = serializers.SerializerMethodField()

    class Meta:
        model = FollowerPosition
        fields = ["symbol", "quantity", "average_entry", "realized_pnl", "mark_price", "liquidation_price"]
        read_only_fields = fields

    @extend_schema_field(MARK_PRICE)
    def get_liquidation_price(self, position) -> str | None:
        """Perpetuals: where the exchange says it would liquidate the account's position in this
        market; null on spot, or when the exchange gives no figure."""
        price = self.context["marker"].liquidation_price(position)
        return None if price is None else MARK_PRICE.to_representation(price)

    @extend_schema_field(MARK_PRICE)
    def get_mark_price(self, position) -> str | None:
        # `position.copy` is the prefetching copy, already in memory.
        price = self.context["marker"].price(account=position.copy.exchange_account, symbol=position.symbol)
        return None if price is None else MARK_PRICE.to_representation(price)


class PositionDriftOutputSerializer(serializers.ModelSerializer):
    text = serializers.SerializerMethodField(help_text="What differs, in words, with its numbers.")
    action_text = serializers.SerializerMethodField(help_text="What was done about it, in words.")

    class Meta:
        model = PositionDrift
        fields = [
            "symbol",
            "recorded",
            "actual",
            "difference",
            "account_recorded",
            "account_actual",
            "found_at",
            "resolved_at",
            "action",
            "text",
            "action_text",
        ]
        read_only_fields = fields

    def get_text(self, drift) -> str:
        return drift_text(drift)

    def get_action_text(self, drift) -> str:
        return drift_action_text(drift)


# Said in the schema and on the copy's page.
DRIFT_SEMANTICS = (
    "What the platform does when the copy's recorded position and what its exchange account holds differ (checked every "
    "few minutes; copies on one account share its difference): notify tells you only; resync trades the account back to "
    "the copy's recorded position at market; adopt takes the account's figure as the copy's position."
)


# What pausing a copy does, said wherever a copy's status is: in the schema and on the pages.
PAUSE_SEMANTICS = (
    "active: mirrors the leader's entries and exits. paused (by you, the copy stop-loss, an invalid exchange key or "
    "a suspended provider): takes no new entries, but still mirrors the leader's reductions and closes of what the "
    "copy holds, so a paused copy is never left holding a position the leader has left. stopped: mirrors nothing "
    "more; what it holds stays on your account unless you stopped it with close_positions. Every entry not copied "
    "is a skipped copied trade with its reason, and you are notified of it."
)


class CopyOutputSerializer(serializers.ModelSerializer):
    """A copy as its follower sees it; positions marked at cached ticker prices (null when
    a price cannot be had)."""

    strategy = inline_serializer("CopyStrategy", {"id": serializers.IntegerField(), "name": serializers.CharField()})
    exchange_account = inline_serializer(
        "CopyExchangeAccount",
        {"id": serializers.IntegerField(), "label": serializers.CharField(), "exchange_id": serializers.CharField()},
    )
    # The request's names (seed 000 §1.3), not the columns'.
    fixed_notional_usd = serializers.DecimalField(source="fixed_notional", read_only=True, allow_null=True, **MONEY)
    max_order_notional_usd = serializers.DecimalField(source="max_order_notional", read_only=True, allow_null=True, **MONEY)
    unrealized_pnl = serializers.SerializerMethodField()
    positions = FollowerPositionOutputSerializer(source="open_positions", many=True)
    recent_copied_trades = CopiedTradeOutputSerializer(many=True)
    status = serializers.ChoiceField(choices=Copy.Status.choices, read_only=True, help_text=PAUSE_SEMANTICS)
    pause_reason = serializers.ChoiceField(
        choices=Copy.PauseReason.choices,
        allow_blank=True,
        read_only=True,
        help_text="Why it is paused (a code); empty unless it is.",
    )
    pause_reason_text = serializers.SerializerMethodField()
    drift_policy = serializers.ChoiceField(choices=Copy.DriftPolicy.choices, read_only=True, help_text=DRIFT_SEMANTICS)
    drifts = PositionDriftOutputSerializer(
        source="recent_drifts",
        many=True,
        help_text="Where the copy's recorded position and the exchange account's differ(ed): open ones first, then the latest mended ones.",
    )

    class Meta:
        model = Copy
        fields = [
            "id",
            "strategy",
            "exchange_account",
            "sizing_mode",
            "allocation_percent",
            "multiplier",
            "fixed_notional_usd",
            "copy_capital",
            "copy_equity",
            "peak_equity",
            "realized_pnl",
            "unrealized_pnl",
            "current_drawdown_percent",
            "max_drawdown_stop",
            "max_slippage_percent",
            "max_order_notional_usd",
            "round_up_to_minimum",
            "drift_policy",
            "leverage_policy",
            "leverage",
            "margin_mode",
            "symbol_list_mode",
            "symbol_list",
            "take_profit_percent",
            "stop_loss_percent",
            "max_open_positions",
            "max_exposure",
            "open_positions_at_start",
            "status",
            "pause_reason",
            "pause_reason_text",
            "started_at",
            "ended_at",
            "positions",
            "recent_copied_trades",
            "drifts",
        ]
        read_only_fields = fields

    def get_pause_reason_text(self, copy) -> str:
        """Why the copy is paused, in words; empty unless it is."""
        return pause_reason_text(copy) if copy.status == Copy.Status.PAUSED else ""

    @extend_schema_field(UNREALIZED_PNL)
    def get_unrealized_pnl(self, copy) -> str | None:
        pnl = self.context["marker"].unrealized_pnl(copy)
        return None if pnl is None else UNREALIZED_PNL.to_representation(pnl)


def _copy_response(*, follower, copy_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    copy = copy_get(follower=follower, copy_id=copy_id)
    return Response(CopyOutputSerializer(copy, context={"marker": PositionMarker()}).data, status=status_code)


# --- Strategies ------------------------------------------------------------------------


class StrategyListCreateApi(APIView):
    pagination_class = Pagination

    class CreateInputSerializer(StrictInputSerializer):
        name = serializers.CharField(max_length=100)
        description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
        kind = serializers.ChoiceField(choices=Strategy.Kind.choices, default=Strategy.Kind.MANUAL)
        leader_account_id = IdField(required=False, allow_null=True, default=None)
        declared_capital = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None, min_value=Decimal("0.01"))
        source = serializers.ChoiceField(choices=Strategy.Source.choices, default=Strategy.Source.WEBHOOK)
        is_public_leader = serializers.BooleanField(default=False)
        copy_override_percent = serializers.DecimalField(
            max_digits=5, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("30"), default=Decimal("15")
        )

    @extend_schema(operation_id="strategies_list", responses=StrategyOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(
            request=request, view=self, queryset=strategy_list_owned(owner=request.user), serializer_class=StrategyOutputSerializer
        )

    @extend_schema(
        operation_id="strategies_create",
        request=CreateInputSerializer,
        responses={201: StrategyWithSecretOutputSerializer},
        description="The response carries the webhook secret; it is never shown again (rotate it to get a new one).",
    )
    def post(self, request):
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        strategy = strategy_create(owner=request.user, **serializer.validated_data)
        return SecretResponse(StrategyWithSecretOutputSerializer(strategy).data, status=status.HTTP_201_CREATED)


class StrategyDetailApi(APIView):
    class UpdateInputSerializer(StrictInputSerializer):
        name = serializers.CharField(max_length=100, required=False)
        description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
        kind = serializers.ChoiceField(choices=Strategy.Kind.choices, required=False)
        source = serializers.ChoiceField(choices=Strategy.Source.choices, required=False)
        status = serializers.ChoiceField(choices=Strategy.Status.choices, required=False)
        is_public_leader = serializers.BooleanField(required=False)
        copy_override_percent = serializers.DecimalField(
            max_digits=5, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("30"), required=False
        )
        declared_capital = serializers.DecimalField(**MONEY, required=False, min_value=Decimal("0.01"))

    @extend_schema(operation_id="strategies_retrieve", responses=StrategyOutputSerializer)
    def get(self, request, strategy_id: int):
        return Response(StrategyOutputSerializer(strategy_get_owned(owner=request.user, strategy_id=strategy_id)).data)

    @extend_schema(operation_id="strategies_update", request=UpdateInputSerializer, responses=StrategyOutputSerializer)
    def patch(self, request, strategy_id: int):
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        strategy = strategy_update(owner=request.user, strategy_id=strategy_id, data=serializer.validated_data)
        return Response(StrategyOutputSerializer(strategy).data)


class StrategySecretRotateApi(APIView):
    @extend_schema(
        operation_id="strategies_rotate_secret",
        request=None,
        responses=inline_serializer("RotatedSecret", {"id": serializers.IntegerField(), "webhook_secret": serializers.CharField()}),
        description="A new webhook secret, shown once; the old one stops working at once.",
    )
    def post(self, request, strategy_id: int):
        strategy = strategy_webhook_secret_rotate(owner=request.user, strategy_id=strategy_id)
        return SecretResponse({"id": strategy.pk, "webhook_secret": strategy.webhook_secret})


# --- Signals ---------------------------------------------------------------------------


@extend_schema_field({"oneOf": [{"type": "number", "description": "unix seconds"}, {"type": "string", "format": "date-time"}]})
class SignalTimestampField(serializers.Field):
    """Unix seconds or ISO-8601, for the schema (`signal_time_parse` reads it)."""


class SignalInputSerializer(serializers.Serializer):
    """The signal's shape. Its fields describe it in the schema; reading it is
    `leader_signal_parse`'s, the one parser the webhook and the REST call run."""

    extra_fields: tuple[str, ...] = ()

    external_id = serializers.CharField(max_length=MAX_EXTERNAL_ID_LENGTH, help_text="Idempotency key of this signal.")
    symbol = serializers.CharField(max_length=50)
    action = serializers.ChoiceField(choices=ACTIONS)
    amount = _unbounded_decimal(max_value=SIGNAL_MAX["amount"], help_text="Base-currency amount.")
    position_size_usd = _unbounded_decimal(
        max_value=SIGNAL_MAX["position_size_usd"], help_text="Quote amount; amount = usd / the market's price."
    )
    fraction = _unbounded_decimal(max_value=SIGNAL_MAX["fraction"], help_text="Fraction of the current position to reduce (0 < f ≤ 1).")
    price = _unbounded_decimal(
        max_value=SIGNAL_MAX["price"],
        help_text="Optional. The trade is recorded at the market's price when the signal arrives; this one is kept as the "
        "leader's price and refused when further than SIGNAL_PRICE_TOLERANCE_PERCENT from the market's.",
    )
    leverage = serializers.IntegerField(
        min_value=1,
        max_value=125,
        required=False,
        help_text="Perpetuals: the leverage the leader trades at (none: 1×). Copies that follow the leader's leverage open at it.",
    )
    timestamp = SignalTimestampField(required=False, help_text="Unix seconds or ISO-8601.")

    def to_internal_value(self, data) -> LeaderSignal:
        try:
            return leader_signal_parse(data, extra_fields=self.extra_fields)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None


class WebhookInputSerializer(SignalInputSerializer):
    extra_fields = ("strategy_id",)

    strategy_id = IdField()
    timestamp = SignalTimestampField(help_text="Unix seconds or ISO-8601; must be within the replay window.")


class WebhookApi(APIView):
    """Sparky-compatible signal webhook. The HMAC signature is the authentication."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        operation_id="webhook_signal",
        request=WebhookInputSerializer,
        responses={201: SignalOutputSerializer, 200: SignalOutputSerializer},
        parameters=[
            OpenApiParameter(
                "X-Signature",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="sha256=<hex HMAC-SHA256 of the raw body keyed by the strategy's webhook secret>",
            )
        ],
        auth=[],
        description="201 with the new leader trade(s), or 200 with duplicate=true for an external_id already recorded.",
    )
    def post(self, request):
        return _signal_response(
            webhook_signal_receive(body=self._body(request), signature_header=request.headers.get("X-Signature"), client=client_ip(request))
        )

    def _body(self, request) -> bytes:
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ApplicationError("Malformed Content-Length header.") from None
        # Refuse by the declared length before reading, and by the real one after.
        if declared > limit or len(body := request.body) > limit:
            raise ApplicationError(f"The body is larger than {limit} bytes.", status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return body


class StrategyTradesApi(APIView):
    """The strategy owner's own trade log, and the REST way to send a signal."""

    pagination_class = Pagination

    @extend_schema(operation_id="strategy_trades_list", responses=LeaderTradeOwnerOutputSerializer(many=True))
    def get(self, request, strategy_id: int):
        strategy = strategy_get_owned(owner=request.user, strategy_id=strategy_id)
        return paginated_response(
            request=request, view=self, queryset=leader_trade_list(strategy=strategy), serializer_class=LeaderTradeOwnerOutputSerializer
        )

    @extend_schema(
        operation_id="strategy_trades_create",
        request=SignalInputSerializer,
        responses={201: SignalOutputSerializer, 200: SignalOutputSerializer},
    )
    def post(self, request, strategy_id: int):
        strategy = strategy_get_owned(owner=request.user, strategy_id=strategy_id)
        payload = request.data.dict() if hasattr(request.data, "dict") else request.data
        return _signal_response(rest_signal_receive(strategy_id=strategy.pk, payload=payload))


# --- Copy trading ----------------------------------------------------------------------


class CopyStartApi(APIView):
    class InputSerializer(StrictInputSerializer):
        strategy_id = IdField()
        exchange_account_id = IdField()
        sizing_mode = serializers.ChoiceField(choices=Copy.SizingMode.choices, default=Copy.SizingMode.PROPORTIONAL)
        allocation_percent = serializers.DecimalField(max_digits=6, decimal_places=2, required=False, allow_null=True, default=None)
        multiplier = serializers.DecimalField(max_digits=12, decimal_places=6, required=False, allow_null=True, default=None)
        fixed_notional_usd = serializers.DecimalField(**MONEY, source="fixed_notional", required=False, allow_null=True, default=None)
        max_drawdown_stop = serializers.DecimalField(
            max_digits=5, decimal_places=2, default=Decimal("30"), help_text=SETTINGS["max_drawdown_stop"].help_text
        )
        max_slippage_percent = serializers.DecimalField(
            max_digits=5, decimal_places=2, default=Decimal("1"), help_text=SETTINGS["max_slippage_percent"].help_text
        )
        max_order_notional_usd = serializers.DecimalField(
            **MONEY,
            source="max_order_notional",
            required=False,
            allow_null=True,
            default=None,
            help_text=SETTINGS["max_order_notional"].help_text,
        )
        round_up_to_minimum = serializers.BooleanField(default=False, help_text=SETTINGS["round_up_to_minimum"].help_text)
        invitation = serializers.CharField(
            max_length=64, required=False, default="", help_text="An invitation link's token, to copy a strategy that is not listed."
        )
        open_positions_at_start = serializers.BooleanField(default=False, help_text=SETTINGS["open_positions_at_start"].help_text)
        symbol_list_mode = serializers.ChoiceField(choices=Copy.SymbolListMode.choices, default=Copy.SymbolListMode.ALL, allow_blank=True)
        symbol_list = _symbol_list_field(required=False, default=list, help_text=SETTINGS["symbol_list"].help_text)
        take_profit_percent = _optional_percent("take_profit_percent", default=None)
        stop_loss_percent = _optional_percent("stop_loss_percent", default=None)
        max_open_positions = serializers.IntegerField(
            required=False, allow_null=True, default=None, help_text=SETTINGS["max_open_positions"].help_text
        )
        max_exposure = serializers.DecimalField(
            **MONEY, required=False, allow_null=True, default=None, help_text=SETTINGS["max_exposure"].help_text
        )
        leverage_policy = serializers.ChoiceField(
            choices=Copy.LeveragePolicy.choices,
            default=Copy.LeveragePolicy.FOLLOW,
            help_text="Perpetuals: follow the leader's leverage, a fixed one, or the leader's capped at `leverage`.",
        )
        leverage = serializers.IntegerField(min_value=1, max_value=125, required=False, allow_null=True, default=None)
        margin_mode = serializers.ChoiceField(choices=MarginMode.choices, default=MarginMode.CROSS)
        expected_performance_fee_percent = serializers.DecimalField(
            max_digits=5,
            decimal_places=2,
            min_value=Decimal("0"),
            required=False,
            help_text="The performance fee (%) you were shown, e.g. from the leader's fee_terms; with "
            "expected_subscription_fee_monthly the copy is refused (409) if the terms have changed since.",
        )
        expected_subscription_fee_monthly = serializers.DecimalField(
            **MONEY, min_value=Decimal("0"), required=False, help_text="The monthly subscription you were shown."
        )

        def validate(self, data):
            # The service checks this too, by column name; here errors name the request's fields.
            data = super().validate(data)
            expected = [data.pop(name, None) for name in ("expected_performance_fee_percent", "expected_subscription_fee_monthly")]
            if (expected[0] is None) != (expected[1] is None):
                raise serializers.ValidationError({"expected_subscription_fee_monthly": "Give both expected fee terms, or neither."})
            if expected[0] is not None:
                data["expected_terms"] = FeeTerms(
                    program="",
                    rate_percent=expected[0],
                    subscription_fee_monthly=expected[1],
                    payee_share=ZERO,
                    currency=settings.BILLING_CURRENCY,
                )
            mode = data["sizing_mode"]
            field_of = {field.source: name for name, field in self.fields.items()}  # fixed_notional is fixed_notional_usd here
            for field_mode, parameter in SIZING_PARAMETER.items():
                field = field_of[parameter]
                present = data.get(parameter) is not None
                if field_mode == mode and not present:
                    raise serializers.ValidationError({field: f"{mode} sizing needs {field}."})
                if field_mode != mode and present:
                    raise serializers.ValidationError({field: f"{field} applies to {field_mode} sizing only."})
            return data

    @extend_schema(operation_id="copy_trading_start", request=InputSerializer, responses={201: CopyOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        copy = copy_start(follower=request.user, **serializer.validated_data)
        return _copy_response(follower=request.user, copy_id=copy.pk, status_code=status.HTTP_201_CREATED)


class CopyStopApi(APIView):
    class InputSerializer(StrictInputSerializer):
        copy_id = IdField()
        close_positions = serializers.BooleanField(default=False, help_text="Also close what the copy holds, at market.")

    @extend_schema(operation_id="copy_trading_stop", request=InputSerializer, responses=CopyOutputSerializer)
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        copy = copy_stop(follower=request.user, **serializer.validated_data)
        return _copy_response(follower=request.user, copy_id=copy.pk)


class CopyIdInputSerializer(StrictInputSerializer):
    copy_id = IdField()


class CopyPauseApi(APIView):
    @extend_schema(
        operation_id="copy_trading_pause", request=CopyIdInputSerializer, responses=CopyOutputSerializer, description=PAUSE_SEMANTICS
    )
    def post(self, request):
        serializer = CopyIdInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        copy = copy_pause(follower=request.user, **serializer.validated_data)
        return _copy_response(follower=request.user, copy_id=copy.pk)


class CopyResumeApi(APIView):
    @extend_schema(
        operation_id="copy_trading_resume",
        request=CopyIdInputSerializer,
        responses=CopyOutputSerializer,
        description="Resume a paused copy: it takes the leader's new entries again (what it missed while paused is not "
        "replayed); drawdown is measured from the copy's current equity.",
    )
    def post(self, request):
        serializer = CopyIdInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        copy = copy_resume(follower=request.user, **serializer.validated_data)
        return _copy_response(follower=request.user, copy_id=copy.pk)


class CopyUpdateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        allocation_percent = serializers.DecimalField(max_digits=6, decimal_places=2, required=False)
        multiplier = serializers.DecimalField(max_digits=12, decimal_places=6, required=False)
        fixed_notional_usd = serializers.DecimalField(**MONEY, source="fixed_notional", required=False)
        max_drawdown_stop = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
        max_slippage_percent = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
        max_order_notional_usd = serializers.DecimalField(**MONEY, source="max_order_notional", required=False, allow_null=True)
        round_up_to_minimum = serializers.BooleanField(required=False)
        drift_policy = serializers.ChoiceField(choices=Copy.DriftPolicy.choices, required=False, help_text=DRIFT_SEMANTICS)
        leverage_policy = serializers.ChoiceField(choices=Copy.LeveragePolicy.choices, required=False)
        leverage = serializers.IntegerField(min_value=1, max_value=125, required=False, allow_null=True)
        margin_mode = serializers.ChoiceField(choices=MarginMode.choices, required=False)
        symbol_list_mode = serializers.ChoiceField(choices=Copy.SymbolListMode.choices, required=False, allow_blank=True)
        symbol_list = _symbol_list_field(required=False, help_text=SETTINGS["symbol_list"].help_text)
        take_profit_percent = _optional_percent("take_profit_percent")
        stop_loss_percent = _optional_percent("stop_loss_percent")
        max_open_positions = serializers.IntegerField(required=False, allow_null=True, help_text=SETTINGS["max_open_positions"].help_text)
        max_exposure = serializers.DecimalField(**MONEY, required=False, allow_null=True, help_text=SETTINGS["max_exposure"].help_text)

    @extend_schema(operation_id="copy_trading_update", request=InputSerializer, responses=CopyOutputSerializer)
    def patch(self, request, copy_id: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        copy_update(follower=request.user, copy_id=copy_id, data=serializer.validated_data)
        return _copy_response(follower=request.user, copy_id=copy_id)


class CopyUpdateCheckApi(APIView):
    """What a change of a copy's settings would do, before it is made: the PATCH's checks
    (a refusal is the same 4xx) and a sentence per setting changed, saying what it does to
    the positions the copy already holds. Nothing is saved."""

    @extend_schema(
        operation_id="copy_trading_update_check",
        request=CopyUpdateApi.InputSerializer,
        responses=inline_serializer("CopyChangeEffects", {"changes": serializers.ListField(child=serializers.CharField())}),
    )
    def post(self, request, copy_id: int):
        serializer = CopyUpdateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        copy, change = copy_update_check(follower=request.user, copy_id=copy_id, data=serializer.validated_data)
        return Response({"changes": copy_change_effects(copy=copy, data=change)})


class CopiedTradesApi(APIView):
    pagination_class = Pagination

    class FilterSerializer(PageFilterSerializer):
        copy = IdField(required=False)

    @extend_schema(
        operation_id="copy_trading_copied_trades", parameters=[FilterSerializer], responses=CopiedTradeOutputSerializer(many=True)
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        trades = copied_trade_list(follower=request.user, copy_id=filters.validated_data.get("copy"))
        return paginated_response(request=request, view=self, queryset=trades, serializer_class=CopiedTradeOutputSerializer)
