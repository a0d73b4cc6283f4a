"""Admin for exchange accounts: credentials are never shown, only whether they are set."""

from django.contrib import admin

from core.admin import OwnershipReadOnlyMixin, ReadOnlyAdmin, quantity_column
from exchanges.models import Candle, ExchangeAccount, PaperBalance, PaperOrder


class PaperBalanceInline(admin.TabularInline):
    model = PaperBalance
    fields = ["currency", quantity_column("free"), quantity_column("locked")]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(OwnershipReadOnlyMixin, admin.ModelAdmin):
    # The encrypted credential fields are left out of every form and list: an admin page
    # must never render a secret, not even to staff.
    fields = [
        "owner",
        "exchange_id",
        "label",
        "sandbox",
        "status",
        "status_reason",
        "api_key_status",
        "api_secret_status",
        "api_passphrase_status",
        "last_verified_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "owner",
        "exchange_id",
        "sandbox",
        "api_key_status",
        "api_secret_status",
        "api_passphrase_status",
        "last_verified_at",
        "created_at",
        "updated_at",
    ]
    list_display = ["id", "label", "owner", "exchange_id", "sandbox", "status", "api_key_status", "last_verified_at"]
    list_filter = ["exchange_id", "status", "sandbox"]
    search_fields = ["label", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    inlines = [PaperBalanceInline]

    def has_add_permission(self, request):
        # Accounts are connected through the API, which verifies credentials first.
        return False

    @admin.display(description="API key")
    def api_key_status(self, account):
        return "set" if account.api_key else "not set"

    @admin.display(description="API secret")
    def api_secret_status(self, account):
        return "set" if account.api_secret else "not set"

    @admin.display(description="API passphrase")
    def api_passphrase_status(self, account):
        return "set" if account.api_passphrase else "not set"


@admin.register(PaperOrder)
class PaperOrderAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "account",
        "client_order_id",
        "symbol",
        "side",
        "type",
        quantity_column("amount"),
        quantity_column("filled"),
        quantity_column("average_price", description="average price"),
        "status",
        "created_at",
    ]
    list_filter = ["status", "side", "type"]
    search_fields = ["client_order_id", "symbol"]
    list_select_related = ["account__owner"]


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = [
        "exchange_id",
        "symbol",
        "timeframe",
        "open_time",
        *(quantity_column(name) for name in ("open", "high", "low", "close", "volume")),
    ]
    list_filter = ["exchange_id", "timeframe"]
    search_fields = ["symbol"]
