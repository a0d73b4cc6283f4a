"""Curation in Django admin: curators (the `curators` group) review, approve, reject, suspend
and reinstate providers; every decision asks for a reason and lands in the event log."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from core.admin import ReadOnlyAdminMixin
from core.errors import ApplicationError
from core.money import quantize_money
from marketplace.charts import equity_curve_svg
from marketplace.metrics import WINDOWS
from marketplace.models import (
    ProviderEvent,
    ProviderMetrics,
    Rating,
    SignalProvider,
    StrategyMetrics,
    TradeVerification,
)
from marketplace.selectors import provider_event_list, provider_verification_findings, provider_verification_summary
from marketplace.services import CURATE_PERMISSION, provider_review_clear, provider_transition
from marketplace.tasks import provider_metrics_enqueue
from marketplace.track_record import trade_verification_resolve

FINDINGS_SHOWN = 50


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), max_length=2000, strip=True)


class SignalProviderForm(forms.ModelForm):
    """Shows a stored fee as 29.00, not as the column's 0E-8 / 29.00000000."""

    class Meta:
        model = SignalProvider
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fee = self.initial.get("subscription_fee_monthly")
        if fee is not None:
            self.initial["subscription_fee_monthly"] = quantize_money(fee)


class ProviderEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ProviderEvent
    fields = ["created_at", "action", "field", "from_value", "to_value", "actor", "reason"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    extra = 0
    can_delete = False
    verbose_name_plural = "event log"


def _transition_action(action_name: str, label: str):
    def run(modeladmin, request, queryset):
        return modeladmin.transition_with_reason(request, queryset, action_name=action_name, label=label)

    run.__name__ = action_name
    return admin.action(description=f"{label} selected providers", permissions=["curate"])(run)


@admin.register(SignalProvider)
class SignalProviderAdmin(admin.ModelAdmin):
    form = SignalProviderForm
    list_display = [
        "display_name", "user", "status", "risk_level", "verification_status", "needs_review", "average_rating",
        "ratings_count", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "risk_level", "verification_status", "needs_review"]
    search_fields = ["display_name", "user__username", "user__email"]
    list_select_related = ["user"]
    ordering = ["-created_at", "-id"]
    # Status and reputation change only through the actions and services, never by editing.
    readonly_fields = [
        "user", "status", "status_changed_at", "average_rating", "ratings_count", "verification_status", "needs_review",
        "review_reason", "created_at", "updated_at",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["user", "display_name", "status", "status_changed_at", "needs_review", "review_reason"]}),
        ("Profile", {"fields": ["description", "trading_strategy", "risk_level"]}),
        ("Marketplace settings", {"fields": ["subscription_fee_monthly", "performance_fee_percent", "is_public"]}),
        ("Reputation and verification", {"fields": ["average_rating", "ratings_count", "verification_status"]}),
        ("Timestamps", {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [ProviderEventInline]
    actions = [
        _transition_action("approve", "Approve"),
        _transition_action("reject", "Reject"),
        _transition_action("suspend", "Suspend"),
        _transition_action("reinstate", "Reinstate"),
        _transition_action("clear_review", "Clear the review flag of"),
        "recalculate_metrics",
    ]
    change_form_template = "admin/marketplace/signalprovider/change_form.html"

    def has_add_permission(self, request):
        return False  # providers apply through the API

    def has_delete_permission(self, request, obj=None):
        return False  # the event log and payouts refer to them

    def has_curate_permission(self, request):
        return request.user.has_perm(CURATE_PERMISSION)

    @admin.action(description="Recalculate metrics of selected providers", permissions=["curate"])
    def recalculate_metrics(self, request, queryset):
        strategies = sum(provider_metrics_enqueue(provider_id=provider_id) for provider_id in queryset.values_list("id", flat=True))
        self.message_user(request, f"Metrics recalculation queued for {strategies} strategy(ies).", messages.SUCCESS)

    def transition_with_reason(self, request, queryset, *, action_name: str, label: str):
        """Ask for a reason on an intermediate page, then apply the action to each provider."""
        if not self.has_curate_permission(request):
            raise PermissionDenied
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done, refused = 0, []
            for provider in queryset.order_by("id"):
                try:
                    if action_name == "clear_review":
                        provider_review_clear(provider_id=provider.pk, actor=request.user, reason=form.cleaned_data["reason"])
                    else:
                        provider_transition(
                            provider_id=provider.pk, action=action_name, actor=request.user, reason=form.cleaned_data["reason"]
                        )
                    done += 1
                except ApplicationError as exc:
                    refused.append(f"{provider.display_name}: {exc.message}")
            if done:
                self.message_user(request, f"{label} {done} provider(s): done.", messages.SUCCESS)
            for message in refused:
                self.message_user(request, message, messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label} providers: give a reason",
            "opts": self.model._meta,
            "providers": queryset.select_related("user"),
            "action_name": action_name,
            "action_label": label,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/marketplace/signalprovider/transition.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        provider = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if provider is not None:
            by_window = {row.window: row for row in ProviderMetrics.objects.filter(provider=provider)}
            metrics_rows = [(window, by_window.get(window), _percents(by_window.get(window))) for window in WINDOWS]
            all_time = by_window.get("all")
            extra_context.update(
                {
                    "metrics_rows": metrics_rows,
                    "equity_svg": equity_curve_svg(all_time.equity_series if all_time else []),
                    "verification_summary": provider_verification_summary(provider=provider),
                    "verification_findings": list(provider_verification_findings(provider=provider)[:FINDINGS_SHOWN]),
                    "event_count": provider_event_list(provider=provider).count(),
                }
            )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


def _percents(row: ProviderMetrics | None) -> dict[str, float | None]:
    """Fractions shown as percentages on the provider page."""
    if row is None:
        return {}
    return {name: None if getattr(row, name) is None else getattr(row, name) * 100 for name in ("total_return", "win_rate")}


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "provider", "action", "field", "from_value", "to_value", "actor", "reason"]
    list_filter = ["action"]
    search_fields = ["provider__display_name", "reason"]
    list_select_related = ["provider", "actor"]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["provider", "user", "stars", "comment", "updated_at"]
    list_filter = ["stars"]
    search_fields = ["provider__display_name", "user__username", "comment"]
    list_select_related = ["provider", "user"]
    readonly_fields = ["provider", "user", "stars", "comment", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False


class MetricsAdminMixin(ReadOnlyAdminMixin):
    list_filter = ["window"]
    exclude = ["equity_series"]


@admin.register(ProviderMetrics)
class ProviderMetricsAdmin(MetricsAdminMixin, admin.ModelAdmin):
    list_display = ["provider", "window", "as_of", "total_return", "sharpe_ratio", "win_rate", "max_drawdown", "follower_count"]
    list_select_related = ["provider"]
    search_fields = ["provider__display_name"]


@admin.register(StrategyMetrics)
class StrategyMetricsAdmin(MetricsAdminMixin, admin.ModelAdmin):
    list_display = ["strategy", "window", "as_of", "total_return", "sharpe_ratio", "win_rate", "max_drawdown", "follower_count"]
    list_select_related = ["strategy"]
    search_fields = ["strategy__name"]


@admin.register(TradeVerification)
class TradeVerificationAdmin(admin.ModelAdmin):
    list_display = ["leader_trade", "strategy", "status", "price", "candle_low", "candle_high", "checked_at", "resolved_at"]
    list_filter = ["status", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["strategy__name"]
    list_select_related = ["leader_trade", "strategy"]
    readonly_fields = [
        "leader_trade", "strategy", "status", "exchange_id", "price", "candle_low", "candle_high", "tolerance_percent",
        "checked_at", "resolved_at", "resolved_by", "resolution_note",
    ]  # fmt: skip
    actions = ["resolve"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Accept selected mismatches after review", permissions=["change"])
    def resolve(self, request, queryset):
        for verification in queryset.filter(status=TradeVerification.Status.MISMATCH, resolved_at__isnull=True):
            trade_verification_resolve(
                verification_id=verification.pk, actor=request.user, note=f"accepted in admin on {timezone.now():%Y-%m-%d %H:%M} UTC"
            )
