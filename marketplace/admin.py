"""Curation in Django admin: curators (the `curators` group, marketplace/migrations/0008)
review a provider's record on its page (strategies, trades, metrics, equity curve,
verification, event log) and decide there: approve, reject, suspend, reinstate or clear a
review flag, each with a reason that lands in the event log. The list's bulk actions do
the same for several providers at once."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from core.admin import OwnershipReadOnlyMixin, ReadOnlyAdminMixin, billing_currency, money_column
from core.errors import ApplicationError
from core.money import quantize_money
from exchanges.errors import ExchangeError
from marketplace.charts import equity_curve_svg
from marketplace.metrics import WINDOWS
from marketplace.models import (
    CopyFeeTerms,
    ProviderEvent,
    ProviderMetrics,
    Rating,
    SignalProvider,
    StrategyMetrics,
    TradeVerification,
)
from marketplace.selectors import (
    provider_event_list,
    provider_strategy_list,
    provider_trade_list,
    provider_verification_findings,
    provider_verification_summary,
)
from marketplace.services import (
    CURATE_PERMISSION,
    CURATOR_ACTIONS,
    provider_review_clear,
    provider_terms_update,
    provider_transition,
    rating_delete,
)
from marketplace.tasks import provider_metrics_enqueue
from marketplace.verification import provider_record_check, trade_verification_resolve

TERMS_FIELDS = ("performance_fee_percent", "subscription_fee_monthly")
FINDINGS_SHOWN = 50
TRADES_SHOWN = 50
CLEAR_REVIEW = "clear_review"
method_decorator_post = method_decorator(require_POST)
DECISION_LABELS = {
    "approve": "Approve",
    "reject": "Reject",
    "suspend": "Suspend",
    "reinstate": "Reinstate",
    CLEAR_REVIEW: "Clear the review flag",
}


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), max_length=2000, strip=True)


class DecisionForm(ReasonForm):
    """A decision from the provider's page: which one (the button pressed) and why."""

    decision = forms.ChoiceField(choices=list(DECISION_LABELS.items()))


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


subscription_fee = money_column("subscription_fee_monthly", currency=billing_currency, description="subscription / month")


@admin.register(SignalProvider)
class SignalProviderAdmin(OwnershipReadOnlyMixin, admin.ModelAdmin):
    form = SignalProviderForm
    list_display = [
        "display_name",
        "user",
        "status",
        "risk_level",
        "verification_status",
        "needs_review",
        subscription_fee,
        "performance_fee_percent",
        "average_rating",
        "ratings_count",
        "created_at",
    ]
    list_filter = ["status", "risk_level", "verification_status", "needs_review"]
    search_fields = ["display_name", "user__username", "user__email"]
    list_select_related = ["user"]
    ordering = ["-created_at", "-id"]
    # Status and reputation change only through the actions and services, never by editing.
    readonly_fields = [
        "user",
        "status",
        "status_changed_at",
        "average_rating",
        "ratings_count",
        "verification_status",
        "needs_review",
        "review_reason",
        "created_at",
        "updated_at",
    ]
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

    def save_model(self, request, obj, form, change):
        """A change of fee terms goes through `provider_terms_update`: logged, and existing
        copies told and given the notice period, as from any other way of changing them."""
        changed_terms = [name for name in TERMS_FIELDS if name in form.changed_data]
        if not change or not changed_terms:
            return super().save_model(request, obj, form, change)
        stored = SignalProvider.objects.get(pk=obj.pk)
        for name in TERMS_FIELDS:
            setattr(obj, name, getattr(stored, name))
        super().save_model(request, obj, form, change)
        provider_terms_update(provider_id=obj.pk, actor=request.user, **{name: form.cleaned_data[name] for name in TERMS_FIELDS})
        obj.refresh_from_db()

    def has_curate_permission(self, request):
        return request.user.has_perm(CURATE_PERMISSION)

    # Who may only read the page (curators) sees the fee as money ("29.00 USD"), not the
    # column's eight decimals; who may edit it gets the form field (SignalProviderForm).
    def _reads_only(self, request, obj) -> bool:
        return obj is not None and not self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._reads_only(request, obj):
            return fieldsets
        swap = {"subscription_fee_monthly": subscription_fee}
        return [(name, {**options, "fields": [swap.get(field, field) for field in options["fields"]]}) for name, options in fieldsets]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, subscription_fee] if self._reads_only(request, obj) else fields

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/decide/", self.admin_site.admin_view(self.decide_view), name=f"{name}_decide"),
            path("<path:object_id>/check-record/", self.admin_site.admin_view(self.check_record_view), name=f"{name}_check_record"),
            *super().get_urls(),
        ]

    def _change_url(self, provider_id) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[provider_id])

    def _curated_provider(self, request, object_id) -> SignalProvider:
        if not self.has_curate_permission(request):
            raise PermissionDenied
        provider = self.get_object(request, unquote(object_id))
        if provider is None:
            raise Http404("No such signal provider.")
        return provider

    @staticmethod
    def decisions_for(provider: SignalProvider) -> list[tuple[str, str]]:
        """The decisions the provider's state allows, as (action, button label)."""
        decisions = [(action, DECISION_LABELS[action]) for action, (starts, _) in CURATOR_ACTIONS.items() if provider.status in starts]
        if provider.needs_review:
            decisions.append((CLEAR_REVIEW, DECISION_LABELS[CLEAR_REVIEW]))
        return decisions

    @staticmethod
    def _decide(*, provider: SignalProvider, actor, decision: str, reason: str) -> None:
        if decision == CLEAR_REVIEW:
            provider_review_clear(provider_id=provider.pk, actor=actor, reason=reason)
        else:
            provider_transition(provider_id=provider.pk, action=decision, actor=actor, reason=reason)

    @staticmethod
    def _form_errors(form: forms.Form) -> str:
        return " ".join(f"{form.fields[name].label or name.capitalize()}: {' '.join(errors)}" for name, errors in form.errors.items())

    @method_decorator_post
    def decide_view(self, request, object_id):
        """A decision from the provider's page: the button names it, the reason goes with it."""
        provider = self._curated_provider(request, object_id)
        form = DecisionForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Nothing changed. {self._form_errors(form)}", messages.ERROR)
            return HttpResponseRedirect(self._change_url(provider.pk))
        decision, reason = form.cleaned_data["decision"], form.cleaned_data["reason"]
        try:
            self._decide(provider=provider, actor=request.user, decision=decision, reason=reason)
        except ApplicationError as exc:
            self.message_user(request, f"Nothing changed. {exc.message}", messages.ERROR)
        else:
            told = "" if decision == CLEAR_REVIEW else " and sent to the provider"
            self.message_user(
                request,
                f"{DECISION_LABELS[decision]}: done for {provider.display_name}. The reason is in the event log{told}.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(self._change_url(provider.pk))

    @method_decorator_post
    def check_record_view(self, request, object_id):
        """Verify the provider's trades and compute its metrics now, not at the next nightly run."""
        provider = self._curated_provider(request, object_id)
        try:
            check = provider_record_check(provider_id=provider.pk)
        except ExchangeError as exc:
            self.message_user(request, f"The exchange could not be reached for candles: {exc}. Try again later.", messages.ERROR)
            return HttpResponseRedirect(self._change_url(provider.pk))
        verified = f"{check.verified} trade(s) verified, {check.mismatches} mismatch(es), {check.unavailable} without a candle" + (
            f", {check.remaining} left for the nightly run" if check.remaining else ""
        )
        if check.metrics:
            later = (
                f" {check.trades_after} trade(s) of today enter them with the nightly run after the day closes: metrics are daily."
                if check.trades_after
                else ""
            )
            self.message_user(
                request, f"Record checked: {verified}; metrics computed up to {check.metrics_as_of:%-d %b %Y}.{later}", messages.SUCCESS
            )
        else:
            self.message_user(
                request, f"Record checked: {verified}; metrics could not be computed yet (a daily close is missing).", messages.WARNING
            )
        return HttpResponseRedirect(self._change_url(provider.pk))

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
        provider = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if provider is not None:
            by_window = {row.window: row for row in ProviderMetrics.objects.filter(provider=provider)}
            metrics_rows = [(window, by_window.get(window), _percents(by_window.get(window))) for window in WINDOWS]
            all_time = by_window.get("all")
            trades = provider_trade_list(provider=provider)
            may_curate = self.has_curate_permission(request)
            extra_context.update(
                {
                    "provider_record": True,
                    "strategies": list(provider_strategy_list(provider=provider)),
                    "trades": list(trades[:TRADES_SHOWN]),
                    "trades_total": trades.count(),
                    "unchecked_trades": trades.filter(verification__isnull=True).count(),
                    "metrics_rows": metrics_rows,
                    "equity_svg": equity_curve_svg(all_time.equity_series if all_time else []),
                    "verification_summary": provider_verification_summary(provider=provider),
                    "verification_findings": list(provider_verification_findings(provider=provider)[:FINDINGS_SHOWN]),
                    "event_count": provider_event_list(provider=provider).count(),
                    "may_curate": may_curate,
                    "decisions": self.decisions_for(provider) if may_curate else [],
                    "decide_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_decide", args=[provider.pk]),
                    "check_record_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_check_record", args=[provider.pk]),
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
class RatingAdmin(OwnershipReadOnlyMixin, admin.ModelAdmin):
    list_display = ["provider", "user", "stars", "comment", "updated_at"]
    list_filter = ["stars"]
    search_fields = ["provider__display_name", "user__username", "comment"]
    list_select_related = ["provider", "user"]
    readonly_fields = ["provider", "user", "stars", "comment", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    # Curators remove abusive ratings; the provider's average follows (the service recomputes it).
    def delete_model(self, request, obj):
        rating_delete(rating_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for rating_id in queryset.order_by("id").values_list("id", flat=True):
            rating_delete(rating_id=rating_id)


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
class TradeVerificationAdmin(OwnershipReadOnlyMixin, admin.ModelAdmin):
    list_display = ["leader_trade", "strategy", "status", "price", "candle_low", "candle_high", "checked_at", "resolved_at"]
    list_filter = ["status", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["strategy__name"]
    list_select_related = ["leader_trade", "strategy"]
    readonly_fields = [
        "leader_trade",
        "strategy",
        "status",
        "exchange_id",
        "price",
        "candle_low",
        "candle_high",
        "tolerance_percent",
        "checked_at",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    ]
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


@admin.register(CopyFeeTerms)
class CopyFeeTermsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What each copy is billed from which month (recorded at its start, or a noticed change)."""

    list_display = [
        "copy",
        "effective_from",
        "program",
        "rate_percent",
        money_column("subscription_fee_monthly", currency="currency", description="subscription / month"),
        "payee_share",
        "notified_at",
    ]
    list_filter = ["program"]
    search_fields = ["copy__follower__username", "copy__strategy__name"]
    list_select_related = ["copy__follower", "copy__strategy"]
