"""Admin helpers every app uses, and the admin of core's own models: notifications,
profiles, API tokens."""

from collections.abc import Callable
from operator import attrgetter

from django.conf import settings
from django.contrib import admin

from core.models import ApiToken, AuditEntry, Notification, Profile
from core.money import format_money, format_quantity


class ReadOnlyAdminMixin:
    """Rows written by the platform only (ledgers, event logs): staff may look, never add,
    edit or delete in admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


class OwnershipReadOnlyMixin:
    """Who a row belongs to is decided when it is made: on an existing row every link to
    another row (its user, owner, follower, provider, strategy, account) is read-only in
    admin. Reassigning one would hand a row's money or history to someone else (a billing
    account's Stripe customer and invoices, say) with no service or event log involved."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        links = [field.name for field in self.model._meta.concrete_fields if field.many_to_one or field.one_to_one]
        return [*fields, *(name for name in links if name not in fields)]


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False


def money_column(field: str, *, currency: str | Callable[[object], str], description: str | None = None):
    """A column for `list_display` or `readonly_fields` showing `field` as "68.89 USD", sortable.

    `currency`: the row's attribute path that holds it ("currency", "invoice.currency"), or
    a function of the row (for amounts in the billing currency or a strategy's quote)."""
    currency_of = currency if callable(currency) else attrgetter(currency)

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(row) -> str:
        return format_money(getattr(row, field), currency_of(row))

    column.__name__ = f"{field}_money"
    return column


def billing_currency(row) -> str:
    """The `currency` of amounts kept in the billing currency (fees, subscriptions)."""
    return settings.BILLING_CURRENCY


def quantity_column(field: str, *, description: str | None = None):
    """A quantity or price without the column's trailing zeros ("0.015", not "0.015000000000")."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(row) -> str:
        return format_quantity(getattr(row, field))

    column.__name__ = f"{field}_quantity"
    return column


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "user__username", "user__email"]
    list_select_related = ["user"]


@admin.register(Profile)
class ProfileAdmin(OwnershipReadOnlyMixin, admin.ModelAdmin):
    list_display = ["display_name", "user", "created_at"]
    search_fields = ["display_name", "user__username", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["user", "created_at", "updated_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Which tokens exist and when they were last used; the key itself is never stored."""

    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    exclude = ["key_hash"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit trail, read-only: the billing role and superusers (view_auditentry)."""

    list_display = ["at", "actor", "action", "target_type", "target_id"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_name", "target_type", "target_id"]
    date_hierarchy = "at"
    fields = ["at", "actor_user_id", "actor_name", "action", "target_type", "target_id", "before", "after"]
    readonly_fields = fields

    @admin.display(description="who", ordering="actor_name")
    def actor(self, entry) -> str:
        return entry.actor_name or "the platform"
