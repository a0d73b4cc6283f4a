"""REST for exchange accounts. Credentials are write-only: no response ever carries one."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_conventions import Pagination, StrictInputSerializer, paginated_response
from core.second_factor import second_factor_require
from exchanges.models import PAPER, ExchangeAccount
from exchanges.selectors import exchange_account_get, exchange_account_key_warning, exchange_account_list, exchange_account_reading
from exchanges.services import MAX_CREDENTIAL_LENGTH, exchange_account_create, exchange_account_delete


def _credential_field() -> serializers.CharField:
    # trim_whitespace=False: a pasted key with a stray newline is refused, not silently changed.
    return serializers.CharField(max_length=MAX_CREDENTIAL_LENGTH, required=False, allow_blank=True, trim_whitespace=False, write_only=True)


class AccountReadingSerializer(serializers.Serializer):
    read_at = serializers.DateTimeField()
    quote = serializers.CharField()
    equity = serializers.DecimalField(max_digits=settings.MONEY_MAX_DIGITS, decimal_places=2, allow_null=True)
    free = serializers.DecimalField(max_digits=settings.MONEY_MAX_DIGITS, decimal_places=2, allow_null=True)
    problem = serializers.CharField()


class ExchangeAccountOutputSerializer(serializers.ModelSerializer):
    class PaperBalanceSerializer(serializers.Serializer):
        currency = serializers.CharField()
        free = serializers.DecimalField(max_digits=30, decimal_places=12)
        locked = serializers.DecimalField(max_digits=30, decimal_places=12)

    status_reason_text = serializers.SerializerMethodField()
    reading = serializers.SerializerMethodField(
        help_text="Equity (cash plus holdings at the last price) and free cash in `quote`, when they were read "
        "(cached for a minute), or `problem`: why the exchange could not be read, in words."
    )
    key_warning = serializers.SerializerMethodField(
        help_text="Advice when the exchange says the key works from any address: the platform's addresses to limit it to."
    )
    api_key_set = serializers.SerializerMethodField()
    api_secret_set = serializers.SerializerMethodField()
    api_passphrase_set = serializers.SerializerMethodField()
    paper_balances = PaperBalanceSerializer(many=True, read_only=True)

    class Meta:
        model = ExchangeAccount
        fields = [
            "id",
            "exchange_id",
            "label",
            "sandbox",
            "is_paper",
            "status",
            "status_reason",
            "status_reason_text",
            "api_key_set",
            "api_secret_set",
            "api_passphrase_set",
            "paper_balances",
            "reading",
            "last_verified_at",
            "ip_restricted",
            "key_warning",
            "created_at",
        ]

    @extend_schema_field(AccountReadingSerializer)
    def get_reading(self, account) -> dict:
        return AccountReadingSerializer(exchange_account_reading(account=account)).data

    def get_status_reason_text(self, account) -> str:
        """Why the account cannot trade, in words; empty when it can."""
        return account.get_status_reason_display() if account.status_reason else ""

    def get_key_warning(self, account) -> str:
        return exchange_account_key_warning(account=account)

    def get_api_key_set(self, account) -> bool:
        return bool(account.api_key)

    def get_api_secret_set(self, account) -> bool:
        return bool(account.api_secret)

    def get_api_passphrase_set(self, account) -> bool:
        return bool(account.api_passphrase)


class ExchangeAccountListCreateApi(APIView):
    pagination_class = Pagination

    class CreateInputSerializer(StrictInputSerializer):
        exchange_id = serializers.CharField(
            max_length=32, help_text="'paper' or a supported exchange: binance, bybit, okx (settings.SUPPORTED_EXCHANGE_IDS)"
        )
        label = serializers.CharField(max_length=100)
        api_key = _credential_field()
        api_secret = _credential_field()
        api_passphrase = _credential_field()
        sandbox = serializers.BooleanField(default=False)
        starting_balance = serializers.DictField(
            child=serializers.DecimalField(max_digits=None, decimal_places=None),
            required=False,
            help_text='Paper accounts only: {currency: amount}, default {"USDT": "10000"}.',
        )
        code = serializers.CharField(
            max_length=32,
            required=False,
            allow_blank=True,
            help_text="Accounts with two-factor sign-in, for an exchange key: the current code",
        )

    @extend_schema(operation_id="exchange_accounts_list", responses=ExchangeAccountOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(
            request=request, view=self, queryset=exchange_account_list(owner=request.user), serializer_class=ExchangeAccountOutputSerializer
        )

    @extend_schema(operation_id="exchange_accounts_create", request=CreateInputSerializer, responses={201: ExchangeAccountOutputSerializer})
    def post(self, request):
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        code = serializer.validated_data.pop("code", "")
        if serializer.validated_data["exchange_id"] != PAPER:
            second_factor_require(user=request.user, code=code, to="connect an exchange key")
        account = exchange_account_create(owner=request.user, **serializer.validated_data)
        account = exchange_account_get(owner=request.user, account_id=account.id)
        return Response(ExchangeAccountOutputSerializer(account).data, status=status.HTTP_201_CREATED)


class ExchangeAccountDetailApi(APIView):
    @extend_schema(operation_id="exchange_accounts_retrieve", responses=ExchangeAccountOutputSerializer)
    def get(self, request, account_id: int):
        return Response(ExchangeAccountOutputSerializer(exchange_account_get(owner=request.user, account_id=account_id)).data)

    @extend_schema(operation_id="exchange_accounts_delete", responses={204: None})
    def delete(self, request, account_id: int):
        exchange_account_delete(owner=request.user, account_id=account_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
