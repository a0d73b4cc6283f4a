"""The pages. Each view reads through selectors, writes through services and renders;
the rules live in the apps below. Views are named for what the person does (verb first),
services for the entity they change (`<entity>_<action>`). Lookups of what a person may not see raise the
services' NotFoundError, which `web.middleware` turns into the 404 page."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)

from billing.quality import copy_quality_report_of_strategy
from billing.selectors import strategy_copiers_kept
from copytrade.selectors import copy_list, exchange_accounts_traded_outside_copies, leader_trade_list
from core.errors import ApplicationError
from core.notifications import notification_mark_all_read, notification_mark_read, notification_preferences_set
from core.selectors import (
    api_token_list,
    display_name,
    notification_list,
    notification_preferences,
    notification_unread_count,
)
from core.tokens import api_token_create, api_token_revoke, api_token_revoke_all
from exchanges.selectors import exchange_account_key_warning, exchange_account_list, exchange_account_reading
from exchanges.services import exchange_account_create, exchange_account_delete
from marketplace.metrics import WINDOWS, drawdown_series
from marketplace.selectors import (
    leaderboard_split,
    provider_get_public_of,
    rating_get_own,
    ratios_note,
    strategy_capacity,
    strategy_get_leader,
    strategy_leaderboard,
    strategy_metrics_by_window,
    strategy_verification_summary,
)
from marketplace.services import rating_upsert
from web.charts import points_from_series, sparkline_svg, time_series_svg
from web.fees import strategy_fee_terms
from web.forms import (
    SORT_LABELS,
    WINDOW_LABELS,
    ApiTokenForm,
    ExchangeAccountForm,
    LeaderboardFilterForm,
    NotificationPreferencesForm,
    RatingForm,
)
from web.pages import add_service_errors, is_htmx
from web.quality import copy_quality_rows
from web.second_factor import second_factor_ask, second_factor_due, second_factor_url
from web.templatetags.web import percent, profit_factor, ratio, signed_percent

NOTIFICATIONS_PER_PAGE = 25
RECENT_CLOSED_TRADES = 20


@require_safe
def show_favicon(request):
    # Looked up per request: in production the hashed name exists only after collectstatic.
    return redirect(static("web/favicon.svg"), permanent=True)


# --- Leaderboard and leader profiles (public) ------------------------------------------------


# The ratio column of the leaderboard follows the sort: Sharpe unless another ratio is chosen.
RATIO_COLUMNS = {
    "sortino": ("Sortino", lambda strategy: ratio(strategy.sortino)),
    "calmar": ("Calmar", lambda strategy: ratio(strategy.calmar)),
    "profit_factor": ("Profit factor", lambda strategy: profit_factor(strategy.profit_factor, strategy.profit_factor_infinite)),
}
SHARPE_COLUMN = ("Sharpe", lambda strategy: ratio(strategy.sharpe))


def _leaderboard_row(strategy, *, ratio_column) -> dict:
    label = f"Equity of {strategy.name}, {signed_percent(strategy.total_return)}"
    return {
        "strategy": strategy,
        "ratio": ratio_column[1](strategy),
        "ratios_note": ratios_note(days=strategy.days, closed_trades=strategy.closed_trades),
        "leader_name": display_name(strategy.owner),
        "sparkline": sparkline_svg(points_from_series(strategy.equity_series), label=label),
        "fees": strategy_fee_terms(strategy=strategy),
        "capacity": strategy_capacity(strategy),
    }


@require_safe
def show_leaderboard(request):
    form = LeaderboardFilterForm(LeaderboardFilterForm.with_defaults(request.GET))
    if not form.is_valid():
        return render(request, "web/leaderboard.html", {"form": form}, status=400)
    filters = form.filters()
    board = leaderboard_split(strategy_leaderboard(**form.leaderboard_arguments()))
    ratio_column = RATIO_COLUMNS.get(filters["sort"], SHARPE_COLUMN)
    measured = [strategy.metrics_as_of for strategy in (*board.ranked, *board.new) if strategy.metrics_as_of]
    return render(
        request,
        "web/leaderboard.html",
        {
            "form": form,
            "filters": filters,
            "window_label": WINDOW_LABELS[filters["window"]],
            "sort_label": SORT_LABELS[filters["sort"]].lower(),
            "min_days": settings.LEADERBOARD_MIN_DAYS,
            "min_trades": settings.LEADERBOARD_MIN_CLOSED_TRADES,
            "ratio_label": ratio_column[0],
            "as_of": max(measured) if measured else None,
            "ranked": [_leaderboard_row(strategy, ratio_column=ratio_column) for strategy in board.ranked],
            "new": [_leaderboard_row(strategy, ratio_column=ratio_column) for strategy in board.new],
        },
    )


def _equity_label(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _drawdown_label(value: float, decimals: int) -> str:
    # Drawn downward from 0: -12 on the axis is 12 % below the peak.
    return percent(0, decimals) if value == 0 else f"\u2212{percent(abs(value), decimals)}"


def _leader_context(request, strategy_id: int, *, rating_form: RatingForm | None = None) -> dict:
    viewer = request.user if request.user.is_authenticated else None
    invitation = request.GET.get("invitation", "")[:64]
    strategy = strategy_get_leader(user=viewer, strategy_id=strategy_id, invitation=invitation)
    metrics = strategy_metrics_by_window(strategy_id=strategy.pk)
    whole_record = metrics.get("all")
    equity = points_from_series(whole_record.equity_series if whole_record else [])
    drawdown = [(day, -value) for day, value in drawdown_series(equity)]
    currency = strategy.quote_currency
    provider = provider_get_public_of(user_id=strategy.owner_id)
    is_owner = viewer is not None and strategy.owner_id == viewer.pk
    my_rating = rating_get_own(user=viewer, provider=provider) if viewer and provider and not is_owner else None
    if rating_form is None and viewer and provider and not is_owner:
        rating_form = RatingForm(initial={"stars": my_rating.stars, "comment": my_rating.comment} if my_rating else None)
    return {
        "invitation": invitation if not strategy.is_public_leader else "",
        "strategy": strategy,
        "leader_name": display_name(strategy.owner),
        # Each period with why its ratios are blank (too short a record), as the leaderboard says.
        "windows": [
            (
                WINDOW_LABELS[window],
                metrics.get(window),
                ratios_note(days=metrics[window].returns_count, closed_trades=metrics[window].closed_trades) if window in metrics else None,
            )
            for window in WINDOWS
        ],
        "whole_record": whole_record,
        "equity_chart": time_series_svg(
            equity, name="Equity", y_title=f"Equity ({currency})", y_format=_equity_label, css_class="chart-equity"
        ),
        "drawdown_chart": time_series_svg(
            drawdown,
            name="Drawdown below the peak",
            y_title="Drawdown (%)",
            y_format=_drawdown_label,
            css_class="chart-drawdown",
            ceiling=0.0,
            area=True,
        ),
        "verification": strategy_verification_summary(strategy_id=strategy.pk),
        "closed_trades": leader_trade_list(strategy=strategy, closed_only=True)[:RECENT_CLOSED_TRADES],
        "provider": provider,
        "fees": strategy_fee_terms(strategy=strategy),
        "is_owner": is_owner,
        "my_rating": my_rating,
        "rating_form": rating_form,
        "rating_min_copy_days": settings.RATING_MIN_COPY_DAYS,
        "my_copy": copy_list(follower=viewer).filter(strategy=strategy).first() if viewer and not is_owner else None,
        "leader_30d": metrics.get("30d"),
        "copiers_kept": strategy_copiers_kept(strategy_id=strategy.pk, now=timezone.now()),
        **_leader_quality(strategy.pk),
    }


def _leader_quality(strategy_id: int) -> dict:
    report = copy_quality_report_of_strategy(strategy_id=strategy_id, now=timezone.now())
    return {
        "quality_id": "copy-quality",
        "quality_title": "How faithfully copiers followed",
        "quality_rows": copy_quality_rows(report, whose="copiers"),
        "capacity_sentence": report.quality.capacity.sentence,
    }


@require_safe
def show_leader(request, strategy_id: int):
    return render(request, "web/leader.html", _leader_context(request, strategy_id))


@login_required
@require_POST
def rate_leader(request, strategy_id: int):
    """Rate (or rate again) the provider behind a strategy; who may rate is the service's rule,
    and its refusal is shown beside the form."""
    form = RatingForm(request.POST)
    if form.is_valid():
        context = _leader_context(request, strategy_id, rating_form=form)
        provider = context["provider"]
        if provider is None:
            form.add_error(None, "Only marketplace providers are rated.")
        else:
            try:
                rating_upsert(user=request.user, provider_id=provider.pk, **form.cleaned_data)
            except ApplicationError as exc:
                if exc.status_code == 404:
                    raise
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Thank you: your rating is saved." if context["my_rating"] is None else "Your rating is updated.")
                return redirect(reverse("web:leader", args=[strategy_id]) + "#ratings")
    context = _leader_context(request, strategy_id, rating_form=form)
    return render(request, "web/leader.html", context, status=400)


# --- Notifications ---------------------------------------------------------------------------


@login_required
@require_safe
def show_notifications(request):
    page = Paginator(notification_list(user=request.user), NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "web/notifications.html", {"page": page})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def manage_notification_preferences(request):
    form = NotificationPreferencesForm(request.POST or None, preferences=notification_preferences(user=request.user))
    if request.method == "POST" and form.is_valid():
        notification_preferences_set(user=request.user, choices=form.choices())
        messages.success(request, "Saved: you are told as you chose from now on.")
        return redirect("web:notification-preferences")
    return render(request, "web/settings/notifications.html", {"form": form})


@login_required
@require_safe
def show_unread_badge(request):
    return render(request, "web/partials/unread_badge.html", {"unread_notifications": notification_unread_count(user=request.user)})


def _notifications_changed(response):
    # The navigation's unread badge listens for this event and refreshes itself.
    response["HX-Trigger"] = "notifications-changed"
    return response


@login_required
@require_POST
def mark_notification_read(request, notification_id: int):
    notification = notification_mark_read(user=request.user, notification_id=notification_id)
    if is_htmx(request):
        return _notifications_changed(render(request, "web/partials/notification.html", {"notification": notification}))
    return redirect("web:notifications")


@login_required
@require_POST
def mark_all_notifications_read(request):
    marked = notification_mark_all_read(user=request.user)
    messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} as read.")
    return redirect("web:notifications")


# --- Settings: API tokens ---------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def manage_api_tokens(request):
    form = ApiTokenForm(request.POST or None)
    created = None
    status = 200
    due = second_factor_due(request)
    if request.method == "POST" and due:
        return second_factor_ask(request, to="create an API token")
    if request.method == "POST":
        if form.is_valid():
            # The key is rendered into this one response and never stored: no redirect, so
            # it is in no URL, session or log.
            token, key = api_token_create(user=request.user, name=form.cleaned_data["name"])
            created = {"token": token, "key": key}
            form = ApiTokenForm()
        else:
            status = 400
    context = {
        "form": form,
        "created": created,
        "tokens": api_token_list(user=request.user),
        "token_lifetime_days": settings.API_TOKEN_LIFETIME_DAYS,
        "second_factor_url": second_factor_url(request) if due else "",
    }
    response = render(request, "web/settings/tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_api_token(request, token_id: int):
    token = api_token_revoke(user=request.user, token_id=token_id)
    messages.success(request, f"Token “{token.name}” revoked: requests using it are refused from now on.")
    return redirect("web:api-tokens")


@login_required
@require_POST
def revoke_all_api_tokens(request):
    revoked = api_token_revoke_all(user=request.user)
    messages.success(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}: every program using one is refused from now on.")
    return redirect("web:api-tokens")


# --- Settings: exchange accounts -------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def manage_exchange_accounts(request):
    form = ExchangeAccountForm(request.POST or None)
    status = 200
    due = second_factor_due(request)
    if request.method == "POST" and due:
        return second_factor_ask(request, to="connect an exchange key")
    if request.method == "POST":
        if form.is_valid():
            try:
                account = exchange_account_create(owner=request.user, **form.service_arguments())
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                checked = "opened with its starting balance" if account.is_paper else "connected: the exchange accepted the key"
                messages.success(request, f"“{account.label}” {checked}.")
                warning = exchange_account_key_warning(account=account)
                if warning:
                    messages.warning(request, warning)
                return redirect("web:exchange-accounts")
        status = 400
    return render(
        request,
        "web/settings/exchange_accounts.html",
        {
            "form": form,
            "accounts": [
                (account, exchange_account_reading(account=account), exchange_account_key_warning(account=account))
                for account in exchange_account_list(owner=request.user)
            ],
            "traded_outside_copies": exchange_accounts_traded_outside_copies(owner=request.user),
            "second_factor_url": second_factor_url(request) if due else "",
        },
        status=status,
    )


@login_required
@require_POST
def delete_exchange_account(request, account_id: int):
    try:
        exchange_account_delete(owner=request.user, account_id=account_id)
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.message)
    else:
        messages.success(request, "Exchange account deleted; its keys are gone from the platform.")
    return redirect("web:exchange-accounts")
