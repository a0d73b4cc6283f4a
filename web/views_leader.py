"""Leaders' and providers' pages: strategies (created with their webhook secret shown once,
rotated, a signed curl example), the signals received, earnings by month and by follower,
payouts; the provider application and its status. The rules are the apps' services."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from billing.selectors import billing_account_of, earnings_summary, payout_list
from copytrade.models import Copy
from copytrade.selectors import leader_trade_list, strategy_list_owned
from copytrade.services.strategies import strategy_create, strategy_update, strategy_webhook_secret_rotate
from core.errors import ApplicationError
from core.selectors import display_name
from exchanges.models import ExchangeAccount
from exchanges.selectors import exchange_account_list
from marketplace.selectors import (
    provider_get_own,
    provider_last_decision,
    strategy_capacity,
    strategy_invitation_list,
    strategy_list_listed,
    strategy_recommended_settings,
)
from marketplace.services import (
    provider_apply,
    strategy_capacity_set,
    strategy_invitation_create,
    strategy_invitation_revoke,
    strategy_recommendation_set,
)
from web.charts import bar_chart_svg
from web.fees import strategy_fee_terms
from web.forms import (
    ProviderApplyForm,
    StrategyCapacityForm,
    StrategyCreateForm,
    StrategyListingForm,
    StrategyRecommendationForm,
)
from web.pages import add_service_errors
from web.templatetags.web import money
from web.webhook_example import webhook_curl_example

RECENT_SIGNALS = 10


# --- Strategies ------------------------------------------------------------------------------


def _listing(strategy, *, listed: set[int], provider) -> tuple[str, str]:
    """(what the strategy's pill says, its style): whether the leaderboard lists it now, and
    if it does not though it is public, why."""
    if strategy.pk in listed:
        return "On the leaderboard", ""
    if not strategy.is_public_leader:
        return "Private", "pill-warning"
    if strategy.status != strategy.Status.RUNNING:
        return "Not listed while paused", "pill-warning"
    if provider is not None and provider.status == provider.Status.PENDING:
        return "Listed once your provider application is approved", "pill-warning"
    return f"Not listed: your provider profile is {provider.get_status_display().lower()}", "pill-warning"


def _strategy_rows(request, *, revealed=None, bound: dict | None = None) -> list[dict]:
    webhook_url = request.build_absolute_uri(reverse("webhook"))
    listed = set(strategy_list_listed().filter(owner=request.user).values_list("id", flat=True))
    provider = provider_get_own(user=request.user)
    invitations = _invitations_by_strategy(request)
    rows = []
    for strategy in strategy_list_owned(owner=request.user).select_related("capacity"):
        secret = revealed.webhook_secret if revealed is not None and revealed.pk == strategy.pk else None
        rows.append(
            {
                "strategy": strategy,
                "secret": secret,
                "curl": webhook_curl_example(strategy=strategy, webhook_url=webhook_url, secret=secret),
                "signals": leader_trade_list(strategy=strategy)[:RECENT_SIGNALS],
                "fees": strategy_fee_terms(strategy=strategy),
                "listing": _listing(strategy, listed=listed, provider=provider),
                "who": _who_can_copy(strategy, invitations=invitations.get(strategy.pk, []), bound=bound),
            }
        )
    return rows


def _render_strategies(request, form, *, revealed=None, bound: dict | None = None, status: int = 200):
    response = render(
        request,
        "web/leader/strategies.html",
        {
            "form": form,
            "rows": _strategy_rows(request, revealed=revealed, bound=bound),
            "revealed": revealed,
            "price_tolerance": settings.SIGNAL_PRICE_TOLERANCE_PERCENT.normalize(),
        },
        status=status,
    )
    # A page carrying a secret is never cached.
    response["Cache-Control"] = "no-store"
    return response


def _strategy_form(request, data=None) -> StrategyCreateForm:
    # An account leads one strategy or receives copies, never both (copytrade.services.strategies).
    accounts = (
        exchange_account_list(owner=request.user)
        .filter(status=ExchangeAccount.Status.ACTIVE, led_strategies__isnull=True)
        .exclude(copies__status__in=Copy.LIVE_STATUSES)
    )
    return StrategyCreateForm(data, accounts=accounts)


@login_required
@require_http_methods(["GET", "POST"])
def manage_strategies(request):
    form = _strategy_form(request, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                # The secret is rendered into this one response, not redirected to: it is in no
                # URL, session or log.
                strategy = strategy_create(owner=request.user, **form.service_arguments())
            except ValidationError as exc:
                add_service_errors(form, exc)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return _render_strategies(request, _strategy_form(request), revealed=strategy)
        return _render_strategies(request, form, status=400)
    reveal = request.session.pop(REVEAL_SESSION_KEY, None)
    revealed = strategy_list_owned(owner=request.user).filter(pk=reveal).first() if reveal else None
    return _render_strategies(request, form, revealed=revealed)


# The strategy whose new secret the next GET of the strategies page shows, once.
REVEAL_SESSION_KEY = "web:reveal-secret-of"


@login_required
@require_POST
def rotate_strategy_secret(request, strategy_id: int):
    strategy = strategy_webhook_secret_rotate(owner=request.user, strategy_id=strategy_id)
    # Redirected, so a reload does not rotate again. The session holds which strategy to
    # reveal, never the secret; the page that shows it pops the mark.
    request.session[REVEAL_SESSION_KEY] = strategy.pk
    return redirect(f"{reverse('web:strategies')}#strategy-{strategy.pk}")


# --- Who can copy: capacity, listing, invitation links, recommended settings ------------------
# Each form calls the service its API calls (marketplace.apis, copytrade.apis); a refusal is
# shown inline on the strategies page, a change is said in a message with what it does to the
# copies already running.


def _invitations_by_strategy(request) -> dict[int, list[dict]]:
    rows: dict[int, list[dict]] = {}
    for invitation in strategy_invitation_list(owner=request.user):
        link = request.build_absolute_uri(f"{reverse('web:leader', args=[invitation.strategy_id])}?invitation={invitation.token}")
        rows.setdefault(invitation.strategy_id, []).append({"invitation": invitation, "link": link})
    return rows


def _who_can_copy(strategy, *, invitations: list[dict], bound: dict | None) -> dict:
    capacity = strategy_capacity(strategy)
    mine = bound if bound is not None and bound["strategy_id"] == strategy.pk else {}
    copiers = strategy.copiers_count
    forms = {
        "capacity": mine.get("capacity")
        or StrategyCapacityForm(
            quote_currency=strategy.quote_currency,
            initial={"min_copy_capital": capacity.min_copy_capital, "follower_slots": capacity.follower_slots} if capacity else None,
        ),
        "listing": mine.get("listing") or StrategyListingForm(initial={"is_public_leader": "on" if strategy.is_public_leader else ""}),
        "recommendation": mine.get("recommendation")
        or StrategyRecommendationForm(initial=strategy_recommended_settings(strategy_id=strategy.pk)),
    }
    for kind, form in forms.items():
        form.auto_id = f"{kind}-{strategy.pk}-%s"  # one page, a card per strategy: ids stay unique
    return {
        "capacity": capacity,
        "copiers": copiers,
        "slots_left": capacity.slots_left(copiers) if capacity else None,
        "capacity_form": forms["capacity"],
        "listing_form": forms["listing"],
        "recommendation_form": forms["recommendation"],
        "invitations": invitations,
        "live_invitations": sum(1 for row in invitations if row["invitation"].revoked_at is None),
        "invitation_error": mine.get("invitation_error", ""),
    }


def _owned_strategy(request, strategy_id: int):
    strategy = strategy_list_owned(owner=request.user).filter(pk=strategy_id).first()
    if strategy is None:
        raise Http404("Strategy not found.")
    return strategy


def _back_to_who(strategy_id: int):
    return redirect(f"{reverse('web:strategies')}#who-{strategy_id}")


def _refused(request, *, strategy_id: int, **bound):
    return _render_strategies(request, _strategy_form(request), bound={"strategy_id": strategy_id, **bound}, status=400)


def _capacity_said(strategy, capacity) -> str:
    quote = strategy.quote_currency
    copiers = strategy.copiers_count
    minimum = (
        f"new copies need at least {money(capacity.min_copy_capital, quote)} of capital"
        if capacity.min_copy_capital is not None
        else "new copies need no minimum capital"
    )
    if capacity.follower_slots is None:
        slots = "it takes any number of followers"
    elif copiers >= capacity.follower_slots:
        slots = (
            f"it takes {capacity.follower_slots} followers and has {copiers}, so it is full: new copies are refused until followers leave"
        )
    else:
        slots = f"it takes {capacity.follower_slots} followers and has {copiers}, so {capacity.follower_slots - copiers} can still join"
    return (
        f"Saved for “{strategy.name}”: {minimum}, and {slots}. The {copiers} copies already running carry on as they are; "
        "the limits apply when a copy starts."
    )


@login_required
@require_POST
def set_strategy_capacity(request, strategy_id: int):
    strategy = _owned_strategy(request, strategy_id)
    form = StrategyCapacityForm(request.POST, quote_currency=strategy.quote_currency)
    if form.is_valid():
        try:
            capacity = strategy_capacity_set(owner=request.user, strategy_id=strategy.pk, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            strategy.refresh_from_db()
            messages.success(request, _capacity_said(strategy, capacity))
            return _back_to_who(strategy.pk)
    return _refused(request, strategy_id=strategy.pk, capacity=form)


@login_required
@require_POST
def set_strategy_listing(request, strategy_id: int):
    strategy = _owned_strategy(request, strategy_id)
    form = StrategyListingForm(request.POST)
    if form.is_valid():
        try:
            strategy = strategy_update(owner=request.user, strategy_id=strategy.pk, data=form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            if strategy.is_public_leader:
                said = (
                    f"“{strategy.name}” is public: the leaderboard lists it (once it is running and any provider "
                    "application is approved) and anyone can copy it. Invitation links still work."
                )
            else:
                said = (
                    f"“{strategy.name}” is private: the leaderboard no longer lists it, and only people with a live "
                    "invitation link can open and copy it. The copies already running carry on."
                )
            messages.success(request, said)
            return _back_to_who(strategy.pk)
    return _refused(request, strategy_id=strategy.pk, listing=form)


@login_required
@require_POST
def set_strategy_recommendation(request, strategy_id: int):
    strategy = _owned_strategy(request, strategy_id)
    form = StrategyRecommendationForm(request.POST)
    if form.is_valid():
        try:
            recommendation = strategy_recommendation_set(owner=request.user, strategy_id=strategy.pk, **form.service_arguments())
        except ValidationError as exc:
            add_service_errors(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            if recommendation.settings:
                said = (
                    f"Recommended settings saved for “{strategy.name}”: the copy form starts from them for new copies; "
                    "what a follower submits is what their copy gets. Copies already running keep their own settings."
                )
            else:
                said = f"“{strategy.name}” recommends no settings now: the copy form starts from its defaults."
            messages.success(request, said)
            return _back_to_who(strategy.pk)
    return _refused(request, strategy_id=strategy.pk, recommendation=form)


@login_required
@require_POST
def create_strategy_invitation(request, strategy_id: int):
    strategy = _owned_strategy(request, strategy_id)
    try:
        strategy_invitation_create(owner=request.user, strategy_id=strategy.pk)
    except (ValidationError, ApplicationError) as exc:
        message = exc.message if isinstance(exc, ApplicationError) else " ".join(exc.messages)
        return _refused(request, strategy_id=strategy.pk, invitation_error=message)
    messages.success(
        request,
        f"New invitation link to “{strategy.name}”, at the top of its list: whoever opens it can see and copy the strategy "
        "while it is private. Copy it and send it to the people you invite.",
    )
    return _back_to_who(strategy.pk)


@login_required
@require_POST
def revoke_strategy_invitation(request, invitation_id: int):
    invitation = strategy_invitation_revoke(owner=request.user, invitation_id=invitation_id)
    messages.success(
        request,
        f"Invitation link revoked: it no longer opens or copies “{invitation.strategy.name}”. Copies already started with it carry on.",
    )
    return _back_to_who(invitation.strategy_id)


# --- Earnings and payouts --------------------------------------------------------------------


def _money_label(value: float, decimals: int) -> str:
    return money(Decimal(str(round(value, 2))))


def _earnings_chart(by_month: list[dict]):
    # Oldest first; a month's bar is the payee's share billed for it, paid or not yet.
    bars = [
        (f"{date.fromisoformat(row['period'] + '-01'):%b %Y}", row["earned"] + row["awaiting_collection"]) for row in reversed(by_month)
    ]
    return bar_chart_svg(
        bars,
        name="Your share of the fees billed, by month",
        y_title="Your share (USD)",
        y_format=_money_label,
        css_class="chart-bars",
        empty_text="The chart starts with your first billed month.",
    )


def _payout_context(user) -> dict:
    account = billing_account_of(user=user)
    return {"payouts": payout_list(payee=user), "connect_account": account.stripe_connect_account_id if account else ""}


@login_required
@require_safe
def show_earnings(request):
    summary = earnings_summary(payee=request.user)
    return render(
        request,
        "web/leader/earnings.html",
        {
            "all_time": summary["all_time"],
            "by_month": [{**row, "month": date.fromisoformat(row["period"] + "-01")} for row in summary["by_month"]],
            "by_follower": summary["by_follower"],
            "chart": _earnings_chart(summary["by_month"]),
            **_payout_context(request.user),
        },
    )


# --- Provider --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def manage_provider(request):
    provider = provider_get_own(user=request.user)
    may_apply = provider is None or provider.status == provider.Status.REJECTED
    form = ProviderApplyForm(request.POST or None, initial={"display_name": display_name(request.user)}) if may_apply else None
    status = 200
    if request.method == "POST":
        if form is None:
            messages.error(request, f"You already have a provider profile ({provider.get_status_display().lower()}).")
            return redirect("web:provider")
        if form.is_valid():
            try:
                provider_apply(user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Application sent. A curator checks your record and decides; you are notified either way.")
                return redirect("web:provider")
        status = 400
    return render(
        request,
        "web/leader/provider.html",
        {
            "provider": provider,
            "decision": provider_last_decision(provider=provider) if provider else None,
            "form": form,
            "strategies": strategy_list_owned(owner=request.user),
            **_payout_context(request.user),
        },
        status=status,
    )
