"""A follower's pages: start a copy (with the fee terms and a consent), My Copies with each
copy's figures, chart and trades in words; pause, resume, stop. The rules are copytrade's
(`copy_start`, `copy_pause`...); these views read, call and render."""

from dataclasses import replace
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from billing.quality import CopyQualityReport, copy_quality_reports_of_copies
from billing.selectors import CopyResults, copy_results, invoice_list
from copytrade.copy_settings import SETTINGS, copy_change_effects
from copytrade.models import Copy
from copytrade.reasons import drift_action_text, drift_text, sentence
from copytrade.selectors import (
    PositionMarker,
    copied_trade_list,
    copy_capital_in_use,
    copy_get,
    copy_list,
    copy_live_of_strategy,
    copy_pnl_series,
    copy_start_preview,
)
from copytrade.services.copies import copy_pause, copy_resume, copy_start, copy_stop, copy_update, copy_update_check
from copytrade.sizing import SIZING_PARAMETER
from core.errors import ApplicationError
from core.money import ZERO
from core.selectors import display_name
from exchanges.models import ExchangeAccount
from exchanges.selectors import exchange_account_list
from marketplace.selectors import strategy_capacity, strategy_get_leader, strategy_recommended_settings
from web.charts import time_series_svg
from web.fees import EXAMPLE_CAPITAL, copy_fee_terms_shown, fee_terms_examples, fees_at_capital, strategy_fee_terms
from web.forms import CopyDriftPolicyForm, CopyPreviewForm, CopySettingsForm, CopyStartForm, CopyStopForm
from web.outcomes import copied_trade_action, copied_trade_outcome, copied_trade_pnl_before_fee, pause_reason_in_words
from web.pages import add_service_errors, is_htmx
from web.quality import copy_quality_rows, delay_text, gap_text
from web.templatetags.web import money, signed_money

COPIED_TRADES_PER_PAGE = 50


# --- Start a copy ----------------------------------------------------------------------------


def _copy_start_as_shown(*, follower, strategy, form: CopyStartForm, invitation: str = ""):
    """Start the copy the person agreed to: the form's settings and the fee terms the page
    showed them. The service refuses terms that changed while they read (under the
    strategy's lock, as it records the copy's terms), never silently accepting new ones."""
    rate_shown, subscription_shown = form.terms_shown()
    shown = replace(strategy_fee_terms(strategy=strategy).terms, rate_percent=rate_shown, subscription_fee_monthly=subscription_shown)
    return copy_start(follower=follower, strategy_id=strategy.pk, expected_terms=shown, invitation=invitation, **form.service_arguments())


def _copy_form_context(request, strategy, form) -> dict:
    terms = strategy_fee_terms(strategy=strategy)
    return {
        "strategy": strategy,
        "leader_name": display_name(strategy.owner),
        "form": form,
        "fees": terms,
        "fee_examples": fee_terms_examples(terms=terms),
        "at_capital": fees_at_capital(terms=terms, capital=EXAMPLE_CAPITAL, quote_currency=strategy.quote_currency),
        "billing_currency": settings.BILLING_CURRENCY.upper(),
        "has_accounts": bool(form.fields["exchange_account"].choices),
        "allocation_help": SETTINGS["allocation_percent"].help_text,
        "capacity": strategy_capacity(strategy),
        "invitation": request.GET.get("invitation", "")[:64] if not strategy.is_public_leader else "",
        "recommended": bool(form.initial and set(form.initial) - {"terms_rate_percent", "terms_subscription_fee_monthly"}),
    }


@login_required
@require_http_methods(["GET", "POST"])
def start_copy(request, strategy_id: int):
    invitation = request.GET.get("invitation", "")[:64]  # a strategy not listed, by its leader's link
    strategy = strategy_get_leader(user=request.user, strategy_id=strategy_id, invitation=invitation)
    if strategy.owner_id == request.user.pk:
        messages.info(request, "This is your own strategy: you lead it, you cannot copy it.")
        return redirect("web:leader", strategy_id=strategy.pk)
    existing = copy_live_of_strategy(follower=request.user, strategy_id=strategy.pk)
    if existing is not None:
        # Said before the form is filled in: copy_start would refuse a second live copy anyway.
        messages.info(
            request,
            f"You already copy this strategy: since {existing.started_at:%-d %b %Y}, on {existing.exchange_account.label}. "
            "Here is your copy; to copy it with other settings, stop this one first.",
        )
        return redirect("web:copy", copy_id=existing.pk)
    accounts = exchange_account_list(owner=request.user).filter(status=ExchangeAccount.Status.ACTIVE)
    terms = strategy_fee_terms(strategy=strategy)
    recommended = strategy_recommended_settings(strategy_id=strategy.pk)
    form = CopyStartForm(request.POST or None, accounts=accounts, terms=terms, quote_currency=strategy.quote_currency, initial=recommended)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                copy = _copy_start_as_shown(follower=request.user, strategy=strategy, form=form, invitation=invitation)
            except ValidationError as exc:
                add_service_errors(form, exc)
            except ApplicationError as exc:
                over_limit = "available_percent" in (exc.extra or {})
                form.add_error("allocation_percent" if over_limit else None, exc.message)
            else:
                messages.success(
                    request,
                    f"You now copy {strategy.name} with {money(copy.copy_capital, strategy.quote_currency)} "
                    "of capital. Its next trade is copied onto your account.",
                )
                return redirect(reverse("web:my-copies") + f"#copy-{copy.pk}")
        status = 400
    return render(request, "web/copy_start.html", _copy_form_context(request, strategy, form), status=status)


@login_required
@require_safe
def preview_copy(request, strategy_id: int):
    """The allocation preview the copy form refreshes as the slider moves (htmx)."""
    strategy = strategy_get_leader(user=request.user, strategy_id=strategy_id, invitation=request.GET.get("invitation", "")[:64])
    form = CopyPreviewForm(request.GET)
    preview = None
    if form.is_valid():
        preview = copy_start_preview(
            follower=request.user,
            exchange_account_id=form.cleaned_data["exchange_account"],
            allocation_percent=form.cleaned_data["allocation_percent"],
            quote=strategy.quote_currency,
        )
    terms = strategy_fee_terms(strategy=strategy)
    context = {
        "preview": preview,
        "strategy": strategy,
        "fees": terms,
        "show_fees": bool(terms.rate_percent or terms.subscription_fee_monthly),
        "billing_currency": settings.BILLING_CURRENCY.upper(),
        # The fee section's worked example, redrawn at the chosen capital (an htmx out-of-band swap).
        "at_capital": None
        if preview is None or preview.copy_capital is None
        else fees_at_capital(terms=terms, capital=preview.copy_capital, quote_currency=strategy.quote_currency),
    }
    return render(request, "web/partials/copy_preview.html", context)


# --- My Copies -------------------------------------------------------------------------------


def _pnl_label(value: float, decimals: int) -> str:
    return signed_money(Decimal(str(round(value, decimals))))


def _pnl_chart(copy: Copy, *, currency: str):
    series = copy_pnl_series(copy=copy)
    if len(series) == 1 and series[0][1] != ZERO:
        # Every closed trade so far fell on the copy's first day: one point, no line yet.
        empty_text = (
            f"Closed trades so far, all on {series[0][0]:%-d %b %Y}: {signed_money(series[0][1], currency)}. "
            "The chart draws a line once trades close on a second day."
        )
    else:
        empty_text = "No closed trade yet: the chart starts with the copy's first one."
    return time_series_svg(
        series,
        name=f"Realised P&L of your copy of {copy.strategy.name}",
        y_title=f"Realised P&L ({currency})",
        y_format=_pnl_label,
        css_class="chart-pnl",
        empty_text=empty_text,
    )


def _trade_row(trade) -> dict:
    return {
        "trade": trade,
        "action": copied_trade_action(trade),
        "outcome": copied_trade_outcome(trade),
        "pnl": copied_trade_pnl_before_fee(trade),
        # How late and how far from the leader's price it filled (copy quality), when measured.
        "delay": None if trade.delay_ms is None else delay_text(trade.delay_ms),
        "gap": None if trade.price_gap_bps is None else gap_text(trade.price_gap_bps),
    }


def _copy_card(
    copy: Copy,
    *,
    marker: PositionMarker,
    results: CopyResults | None = None,
    quality: CopyQualityReport | None = None,
) -> dict:
    currency = copy.strategy.quote_currency
    unrealized = marker.unrealized_pnl(copy)
    if results is None:
        results = copy_results(copies=[copy], now=timezone.now())[copy.pk]
    if quality is None:
        quality = copy_quality_reports_of_copies(copies=[copy], now=timezone.now())[copy.pk]
    return {
        "copy": copy,
        "currency": currency,
        "results": results,
        "leader_name": display_name(copy.strategy.owner),
        "fees": copy_fee_terms_shown(copy=copy),
        "unrealized_pnl": unrealized,
        "pause_reason": pause_reason_in_words(copy) if copy.status == Copy.Status.PAUSED else "",
        "drawdown_used": min(copy.current_drawdown_percent / copy.max_drawdown_stop * 100, Decimal(100))
        if copy.max_drawdown_stop
        else ZERO,
        "pnl_chart": _pnl_chart(copy, currency=currency),
        "trades": [_trade_row(trade) for trade in copy.recent_copied_trades],
        "stop_form": CopyStopForm(auto_id=f"stop-{copy.pk}-%s"),
        # Where the copy's recorded position and its account's holding differ(ed), open ones first.
        "drifts": [
            {"drift": drift, "text": sentence(drift_text(drift)), "action": sentence(drift_action_text(drift))}
            for drift in copy.recent_drifts
        ],
        "open_drifts": sum(1 for drift in copy.recent_drifts if drift.resolved_at is None),
        "quality_id": f"copy-{copy.pk}-quality",
        "quality_rows": copy_quality_rows(quality, whose="your copy"),
    }


def _portfolio(cards: list[dict]) -> dict:
    """Live copies' capital and open positions; realised results over every copy, stopped ones
    too (what a stopped copy made or cost is still the follower's), net of fees in the billing
    currency, the one currency every copy's result is also converted to."""
    live = [card for card in cards if card["copy"].status != Copy.Status.STOPPED]
    unrealized = [card["unrealized_pnl"] for card in live]
    live_currencies = {card["currency"] for card in live}
    all_currencies = {card["currency"] for card in cards}
    # Unknown when any price is unknown: a partial sum would look like a real figure.
    unrealized_total = None if any(value is None for value in unrealized) else sum(unrealized, ZERO)
    results = [card["results"] for card in cards]
    return {
        # Sums across currencies say no currency rather than a wrong one.
        "currency": live_currencies.pop() if len(live_currencies) == 1 else "",
        "realized_currency": all_currencies.pop() if len(all_currencies) == 1 else "",
        "billing_currency": settings.BILLING_CURRENCY.upper(),
        "copies": len(live),
        "stopped": len(cards) - len(live),
        "capital": copy_capital_in_use(copies=[card["copy"] for card in live]),
        "realized_pnl": sum((card["copy"].realized_pnl for card in cards), ZERO),
        "fees": sum((result.fees for result in results), ZERO),
        "net_pnl": sum((result.net_pnl for result in results), ZERO),
        "unrealized_pnl": unrealized_total,
    }


@login_required
@require_safe
def show_my_copies(request):
    marker = PositionMarker()
    copies = list(copy_list(follower=request.user, include_stopped=True))
    now = timezone.now()
    results = copy_results(copies=copies, now=now)
    quality = copy_quality_reports_of_copies(copies=copies, now=now)
    cards = [_copy_card(copy, marker=marker, results=results[copy.pk], quality=quality[copy.pk]) for copy in copies]
    return render(
        request,
        "web/my_copies.html",
        {
            "live_cards": [card for card in cards if card["copy"].status != Copy.Status.STOPPED],
            "stopped_cards": [card for card in cards if card["copy"].status == Copy.Status.STOPPED],
            "portfolio": _portfolio(cards),
        },
    )


@login_required
@require_safe
def show_copy(request, copy_id: int):
    copy = copy_get(follower=request.user, copy_id=copy_id)
    card = _copy_card(copy, marker=PositionMarker())
    page = Paginator(copied_trade_list(follower=request.user, copy_id=copy.pk), COPIED_TRADES_PER_PAGE).get_page(request.GET.get("page"))
    trades = [_trade_row(trade) for trade in page]
    drift_form = CopyDriftPolicyForm(initial={"drift_policy": copy.drift_policy}, auto_id="drift-%s")
    return render(request, "web/copy_detail.html", {"card": card, "page": page, "trades": trades, "drift_form": drift_form})


def _after_copy_action(request, copy_id: int, message: str):
    if is_htmx(request):
        copy = copy_get(follower=request.user, copy_id=copy_id)
        context = {"card": _copy_card(copy, marker=PositionMarker()), "message": message, "detail": "detail" in request.GET}
        return render(request, "web/partials/copy_card.html", context)
    messages.success(request, message)
    return redirect(reverse("web:my-copies") + f"#copy-{copy_id}")


def _refused(request, copy_id: int, exc: ApplicationError):
    if exc.status_code == 404:
        raise exc
    if is_htmx(request):
        copy = copy_get(follower=request.user, copy_id=copy_id)
        card = _copy_card(copy, marker=PositionMarker())
        return render(request, "web/partials/copy_card.html", {"card": card, "error": exc.message, "detail": "detail" in request.GET})
    messages.error(request, exc.message)
    return redirect(reverse("web:my-copies") + f"#copy-{copy_id}")


@login_required
@require_POST
def pause_copy(request, copy_id: int):
    try:
        copy = copy_pause(follower=request.user, copy_id=copy_id)
    except ApplicationError as exc:
        return _refused(request, copy_id, exc)
    return _after_copy_action(
        request,
        copy.pk,
        f"Paused your copy of {copy.strategy.name}: no new positions; exits of what it holds are still copied.",
    )


@login_required
@require_POST
def resume_copy(request, copy_id: int):
    try:
        copy = copy_resume(follower=request.user, copy_id=copy_id)
    except ApplicationError as exc:
        return _refused(request, copy_id, exc)
    return _after_copy_action(request, copy.pk, f"Resumed your copy of {copy.strategy.name}: new trades are copied again.")


@login_required
@require_POST
def stop_copy(request, copy_id: int):
    form = CopyStopForm(request.POST)
    close_positions = form.cleaned_data["close_positions"] if form.is_valid() else False
    try:
        copy = copy_stop(follower=request.user, copy_id=copy_id, close_positions=close_positions)
    except ApplicationError as exc:
        return _refused(request, copy_id, exc)
    what = "its open positions are being closed at market" if close_positions else "its open positions stay on your account"
    messages.success(request, f"Stopped your copy of {copy.strategy.name}; {what}.")
    return redirect(reverse("web:my-copies") + f"#copy-{copy.pk}")


@login_required
@require_POST
def set_copy_drift_policy(request, copy_id: int):
    form = CopyDriftPolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what the platform does when your account and the copy differ.")
        return redirect("web:copy", copy_id)
    try:
        copy_update(follower=request.user, copy_id=copy_id, data={"drift_policy": form.cleaned_data["drift_policy"]})
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.message)
        return redirect("web:copy", copy_id)
    messages.success(request, "Saved: the next check of your account follows the new choice.")
    return redirect("web:copy", copy_id)


@login_required
@require_http_methods(["GET", "POST"])
def edit_copy(request, copy_id: int):
    """A running copy's settings. A first submit checks the change with the service and says
    what it does to the positions already open; the change is saved only on the second
    ("Save"), so nothing takes effect that the follower has not read about."""
    copy = copy_get(follower=request.user, copy_id=copy_id)
    if copy.status == Copy.Status.STOPPED:
        messages.info(request, "A stopped copy cannot be changed; start a new copy instead.")
        return redirect("web:copy", copy_id=copy.pk)
    form = CopySettingsForm(request.POST or None, copy=copy)
    effects, status = None, 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.changes()
            try:
                copy, data = copy_update_check(follower=request.user, copy_id=copy.pk, data=data)
                effects = copy_change_effects(copy=copy, data=data)
                if effects and request.POST.get("confirm"):
                    copy_update(follower=request.user, copy_id=copy.pk, data=data)
                    messages.success(
                        request,
                        f"Saved the settings of your copy of {copy.strategy.name}. " + " ".join(sentence(effect) for effect in effects),
                    )
                    return redirect("web:copy", copy_id=copy.pk)
                status = 200
            except ValidationError as exc:
                add_service_errors(form, exc)
            except ApplicationError as exc:
                if exc.status_code == 404:
                    raise
                over_limit = "available_percent" in (exc.extra or {})
                form.add_error("allocation_percent" if over_limit and "allocation_percent" in form.fields else None, exc.message)
    sizing_field = form[SIZING_PARAMETER[copy.sizing_mode]]
    context = {"copy": copy, "form": form, "sizing_field": sizing_field, "effects": effects}
    return render(request, "web/copy_settings.html", context, status=status)


# --- Invoices --------------------------------------------------------------------------------


@login_required
@require_safe
def show_invoices(request):
    return render(request, "web/invoices.html", {"invoices": invoice_list(follower=request.user)})
