"""Admin for copy trading. Trades, positions and copies are written by the platform only
(their counters, sequences and execution state must stay consistent), so staff see them
read-only; on strategies staff may change curation flags, never the webhook secret."""

from django.contrib import admin

from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderPosition, LeaderTrade, Strategy
from copytrade.services.strategies import TERMS_FIELDS
from core.admin import OwnershipReadOnlyMixin, ReadOnlyAdmin, billing_currency, money_column, quantity_column


def _quote(row) -> str:
    return row.strategy.quote_currency


def _trade_quote(row) -> str:
    return row.quote_currency or row.strategy.quote_currency


def _copy_quote(row) -> str:
    return row.copy.strategy.quote_currency


@admin.register(Strategy)
class StrategyAdmin(OwnershipReadOnlyMixin, admin.ModelAdmin):
    # webhook_secret is deliberately absent from every form and list.
    fields = [
        "name",
        "owner",
        "kind",
        "description",
        "leader_account",
        "declared_capital",
        "quote_currency",
        "source",
        "status",
        "is_public_leader",
        "verified_badge",
        "accepting_copies",
        "copy_override_percent",
        "copiers_count",
        "last_sequence",
        "sync_cursor_ms",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "owner",
        "leader_account",
        "declared_capital",
        "quote_currency",
        "source",
        "copiers_count",
        "last_sequence",
        "sync_cursor_ms",
        "created_at",
        "updated_at",
    ]
    list_display = ["id", "name", "owner", "kind", "status", "is_public_leader", "verified_badge", "accepting_copies", "copiers_count"]
    list_filter = ["kind", "status", "source", "is_public_leader", "verified_badge", "accepting_copies"]
    search_fields = ["name", "owner__username", "owner__email"]
    list_select_related = ["owner"]

    def get_readonly_fields(self, request, obj=None):
        # Once copied, what decides the copies' fee terms stays as they consented to it.
        if obj is not None and Copy.objects.filter(strategy=obj).exists():
            return [*self.readonly_fields, *TERMS_FIELDS]
        return self.readonly_fields

    def has_add_permission(self, request):
        # Strategies are created through the API, which hands the owner their secret once.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LeaderTrade)
class LeaderTradeAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "strategy",
        "sequence",
        "symbol",
        "side",
        "effect",
        quantity_column("amount"),
        quantity_column("price"),
        money_column("notional", currency=_quote),
        "source",
        "traded_at",
    ]
    list_filter = ["effect", "side", "source"]
    search_fields = ["external_id", "exchange_order_id", "symbol", "strategy__name"]
    list_select_related = ["strategy"]
    date_hierarchy = "traded_at"


@admin.register(LeaderPosition)
class LeaderPositionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "strategy",
        "symbol",
        quantity_column("quantity"),
        quantity_column("average_entry", description="average entry"),
        money_column("realized_pnl", currency=_quote, description="realized P&L"),
        "updated_at",
    ]
    search_fields = ["symbol", "strategy__name"]
    list_select_related = ["strategy"]


@admin.register(Copy)
class CopyAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "follower",
        "strategy",
        "exchange_account",
        "sizing_mode",
        "allocation_percent",
        "status",
        "pause_reason",
        money_column("copy_equity", currency=_quote, description="copy equity"),
        "current_drawdown_percent",
        "started_at",
    ]
    list_filter = ["status", "sizing_mode"]
    search_fields = ["follower__username", "follower__email", "strategy__name"]
    list_select_related = ["follower", "strategy", "exchange_account__owner"]


@admin.register(CopiedTrade)
class CopiedTradeAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "client_order_id",
        "follower",
        "strategy",
        "sequence",
        "kind",
        "symbol",
        "side",
        "effect",
        quantity_column("filled_amount", description="filled"),
        quantity_column("average_price", description="average price"),
        money_column("pnl_quote", currency=_trade_quote, description="P&L"),
        money_column("pnl_billing", currency=billing_currency, description="P&L (billed)"),
        "status",
        "reason",
        "recorded_at",
    ]
    list_filter = ["status", "kind", "effect"]
    search_fields = ["client_order_id", "exchange_order_id", "follower__username", "strategy__name", "reason"]
    list_select_related = ["follower", "strategy"]
    date_hierarchy = "recorded_at"


@admin.register(FollowerPosition)
class FollowerPositionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "copy",
        "symbol",
        quantity_column("quantity"),
        quantity_column("average_entry", description="average entry"),
        money_column("realized_pnl", currency=_copy_quote, description="realized P&L"),
        "updated_at",
    ]
    search_fields = ["symbol", "copy__follower__username"]
    list_select_related = ["copy__follower", "copy__strategy"]
