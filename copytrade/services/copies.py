"""Writes for copies: start, stop, pause, resume, change; pausing the copies of
an account whose key the exchange rejected."""

import logging
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from copytrade import sizing
from copytrade.copy_settings import POSITION_LIMITS
from copytrade.events import copy_starting, copying_open_requested, invitation_accepts
from copytrade.locks import copy_lock
from copytrade.models import CopiedTrade, Copy, LeaderTrade, Strategy
from copytrade.reasons import sentence
from copytrade.selectors import copy_allocation_used, copy_get
from copytrade.services.platform_closes import copy_close_positions, copy_start_positions_open
from core.audit import audit_changes, audit_record
from core.errors import ApplicationError, ConflictError, NotFoundError
from core.locks import user_row_lock
from core.models import AuditEntry, Notification
from core.money import HUNDRED, ZERO, format_money, to_decimal, truncate
from core.notifications import notification_send
from core.terms import FeeTerms
from core.verification import user_email_verified_require
from exchanges.errors import (
    ExchangeError,
    PermanentExchangeError,
    UnknownSymbolError,
)
from exchanges.gateways import gateway_for_account
from exchanges.models import PAPER, ExchangeAccount, MarginMode
from exchanges.perpetuals import MAX_LEVERAGE
from exchanges.services import exchange_account_key_verify
from exchanges.symbols import resolve_symbol

logger = logging.getLogger(__name__)


COPY_UPDATABLE_FIELDS = {
    "allocation_percent",
    "multiplier",
    "fixed_notional",
    "max_drawdown_stop",
    "max_slippage_percent",
    "max_order_notional",
    "round_up_to_minimum",
    "drift_policy",
    "leverage_policy",
    "leverage",
    "margin_mode",
    "symbol_list_mode",
    "symbol_list",
    *POSITION_LIMITS,
}


def _money(value: Decimal) -> Decimal:
    """Storage precision of a money column; truncated so a capital is never overstated."""
    return truncate(value, settings.MONEY_DECIMAL_PLACES)


def copy_start(
    *,
    follower,
    strategy_id: int,
    exchange_account_id: int,
    sizing_mode: str = Copy.SizingMode.PROPORTIONAL,
    allocation_percent: Decimal | None = None,
    multiplier: Decimal | None = None,
    fixed_notional: Decimal | None = None,
    max_drawdown_stop: Decimal = Decimal("30"),
    max_slippage_percent: Decimal = Decimal("1"),
    max_order_notional: Decimal | None = None,
    round_up_to_minimum: bool = False,
    leverage_policy: str = Copy.LeveragePolicy.FOLLOW,
    leverage: int | None = None,
    margin_mode: str = MarginMode.CROSS,
    symbol_list_mode: str = Copy.SymbolListMode.ALL,
    symbol_list: list[str] | None = None,
    take_profit_percent: Decimal | None = None,
    stop_loss_percent: Decimal | None = None,
    max_open_positions: int | None = None,
    max_exposure: Decimal | None = None,
    invitation: str = "",
    open_positions_at_start: bool = False,
    expected_terms: FeeTerms | None = None,
) -> Copy:
    """Start copying a strategy onto one of the follower's accounts.

    The copy's fee terms are decided and recorded by marketplace (`copy_starting`): what the
    follower consents to now is what they are billed. `expected_terms`, the terms the follower
    was shown, refuses the copy (409) if the strategy's terms are no longer those.

    Copy capital: proportional mode takes allocation % of the account's equity at start;
    multiplier and fixed modes size orders without it, so their capital is the account's
    whole equity at start, the base their P&L and drawdown are measured against.
    """
    user_email_verified_require(user=follower, to="copy a leader")
    parameters = {"allocation_percent": allocation_percent, "multiplier": multiplier, "fixed_notional": fixed_notional}
    _validate_sizing(sizing_mode=sizing_mode, parameters=parameters)
    _validate_risk_settings(
        max_drawdown_stop=max_drawdown_stop, max_slippage_percent=max_slippage_percent, max_order_notional=max_order_notional
    )
    _validate_perpetual_settings(leverage_policy=leverage_policy, leverage=leverage, margin_mode=margin_mode)
    limits = {
        "take_profit_percent": take_profit_percent,
        "stop_loss_percent": stop_loss_percent,
        "max_open_positions": max_open_positions,
        "max_exposure": max_exposure,
    }
    _validate_position_limits(limits)
    strategy = _copyable_strategy(follower=follower, strategy_id=strategy_id, invitation=invitation)
    account = _follower_account(follower=follower, account_id=exchange_account_id)
    symbol_list = _symbol_list_clean(mode=symbol_list_mode, symbols=symbol_list or [], account=account)  # network, as the equity
    equity = _account_equity(account=account, quote=strategy.quote_currency)  # network: before the transaction
    if equity <= 0:
        raise ApplicationError(f"Exchange account '{account.label}' has no {strategy.quote_currency} equity to copy with.")
    copy_capital = sizing.copy_capital(equity=equity, sizing_mode=sizing_mode, allocation_percent=allocation_percent)
    if copy_capital <= 0:
        raise ApplicationError("This allocation of your equity is too small to copy with.")
    copy = Copy(
        follower=follower,
        strategy_id=strategy.pk,
        exchange_account=account,
        sizing_mode=sizing_mode,
        **parameters,
        copy_capital=copy_capital,
        copy_equity=copy_capital,
        peak_equity=copy_capital,
        max_drawdown_stop=max_drawdown_stop,
        max_slippage_percent=max_slippage_percent,
        max_order_notional=max_order_notional,
        round_up_to_minimum=round_up_to_minimum,
        leverage_policy=leverage_policy,
        leverage=leverage,
        margin_mode=margin_mode,
        symbol_list_mode=symbol_list_mode,
        symbol_list=symbol_list,
        open_positions_at_start=open_positions_at_start,
        **limits,
    )
    return _copy_insert(copy=copy, expected_terms=expected_terms, invitation=invitation)


@transaction.atomic
def _copy_insert(*, copy: Copy, expected_terms: FeeTerms | None, invitation: str = "") -> Copy:
    follower = copy.follower
    user_row_lock(user_id=follower.pk)
    # Re-checked under the locks: the strategy or the account may have changed while the
    # equity call was in flight.
    strategy = Strategy.objects.select_for_update().get(pk=copy.strategy_id)
    _check_strategy_copyable(strategy, invitation=invitation)  # a link revoked meanwhile lets no one in
    account = ExchangeAccount.objects.filter(pk=copy.exchange_account_id).first()
    if account is None:
        raise NotFoundError("Exchange account not found.")
    _check_account_usable(account)
    _check_account_leads_nothing(account)
    if Copy.objects.filter(follower=follower, strategy=strategy, status__in=Copy.LIVE_STATUSES).exists():
        raise ConflictError("You already copy this strategy; stop that copy before starting a new one.")
    live_copies = Copy.objects.filter(follower=follower, status__in=Copy.LIVE_STATUSES).count()
    if live_copies >= settings.USER_MAX_LIVE_COPIES:
        raise ConflictError(f"You have {live_copies} live copies, the most one user may have; stop one first.")
    if copy.sizing_mode == Copy.SizingMode.PROPORTIONAL:
        _check_allocation(account=account, new_percent=copy.allocation_percent)
    if copy.sizing_mode == Copy.SizingMode.MULTIPLIER:
        _check_multiplier_notional(follower=follower, strategy=strategy, multiplier=copy.multiplier, copy_capital=copy.copy_capital)

    copy.started_at = timezone.now()
    copy.full_clean(validate_constraints=False)  # constraints are enforced by PostgreSQL below
    try:
        with transaction.atomic():
            copy.save()
    except IntegrityError:
        raise ConflictError("You already copy this strategy; stop that copy before starting a new one.") from None
    # Under the strategy's row lock: a change of terms waits for this copy, and then sees it.
    copy_starting.send(sender=Copy, copy=copy, expected_terms=expected_terms, invitation=invitation)
    Strategy.objects.filter(pk=strategy.pk).update(copiers_count=F("copiers_count") + 1)
    opening = copy_start_positions_open(copy=copy) if copy.open_positions_at_start else []
    _copy_notify(
        copy,
        kind=Notification.Kind.COPY_STARTED,
        title=f"You started copying {strategy.name}",
        body=f"On '{account.label}', with a capital of {format_money(copy.copy_capital, strategy.quote_currency)}. "
        "The leader's new entries are copied from now on; "
        + (
            f"the {len(opening)} position(s) the leader holds now are being opened where the price is not worse than the "
            "leader's entry by more than your slippage limit."
            if opening
            else "positions the leader already holds are not."
        ),
    )
    logger.info("copy %s started: user %s copies strategy %s", copy.pk, follower.pk, strategy.pk)
    return copy


def _copy_notify(copy: Copy, *, kind: str, title: str, body: str) -> None:
    """Tell the follower what happened to their copy (as their preferences say)."""
    notification_send(user=copy.follower, kind=kind, title=title, body=body)


def _validate_sizing(*, sizing_mode: str, parameters: dict) -> None:
    if sizing_mode not in Copy.SizingMode.values:
        raise ValidationError({"sizing_mode": f"Use one of {', '.join(Copy.SizingMode.values)}."})
    needed = sizing.SIZING_PARAMETER[sizing_mode]
    for name, value in parameters.items():
        if name == needed and value is None:
            raise ValidationError({name: f"{sizing_mode} sizing needs {name}."})
        if name != needed and value is not None:
            raise ValidationError({name: f"{name} applies to {_mode_of(name)} sizing only."})
    _validate_sizing_value(name=needed, value=parameters[needed])


def _mode_of(parameter: str) -> str:
    return next(mode for mode, name in sizing.SIZING_PARAMETER.items() if name == parameter)


def _validate_sizing_value(*, name: str, value: Decimal) -> None:
    value = to_decimal(value)
    if not value.is_finite() or value <= 0:
        raise ValidationError({name: f"{name} must be greater than 0."})
    if name == "allocation_percent" and value > HUNDRED:
        raise ValidationError({name: "allocation_percent must be at most 100."})


def _validate_risk_settings(*, max_drawdown_stop: Decimal, max_slippage_percent: Decimal, max_order_notional: Decimal | None) -> None:
    if not 0 < max_drawdown_stop <= HUNDRED:
        raise ValidationError({"max_drawdown_stop": "max_drawdown_stop must be greater than 0 and at most 100."})
    if not 0 <= max_slippage_percent <= 50:
        raise ValidationError({"max_slippage_percent": "max_slippage_percent must be between 0 and 50."})
    if max_order_notional is not None and max_order_notional <= 0:
        raise ValidationError({"max_order_notional": "max_order_notional must be greater than 0."})


def _validate_perpetual_settings(*, leverage_policy: str, leverage: int | None, margin_mode: str) -> None:
    if leverage_policy not in Copy.LeveragePolicy.values:
        raise ValidationError({"leverage_policy": f"Use one of {', '.join(Copy.LeveragePolicy.values)}."})
    if leverage_policy != Copy.LeveragePolicy.FOLLOW and leverage is None:
        raise ValidationError({"leverage": f"A {leverage_policy} leverage policy needs a leverage from 1 to {MAX_LEVERAGE}."})
    if leverage_policy == Copy.LeveragePolicy.FOLLOW and leverage is not None:
        raise ValidationError({"leverage": "A copy that follows the leader's leverage takes no leverage of its own."})
    if leverage is not None and not 1 <= leverage <= MAX_LEVERAGE:
        raise ValidationError({"leverage": f"leverage must be from 1 to {MAX_LEVERAGE}."})
    if margin_mode not in MarginMode.values:
        raise ValidationError({"margin_mode": f"Use one of {', '.join(MarginMode.values)}."})


def _symbol_list_clean(*, mode: str, symbols: list[str], account: ExchangeAccount) -> list[str]:
    """The list as the exchange's unified symbols (`btcusdt` is `BTC/USDT`), each one a market
    of the account's exchange, sorted, once each. Reads the exchange's market list (network):
    call it outside a transaction."""
    if mode not in Copy.SymbolListMode.values:
        raise ValidationError({"symbol_list_mode": f"Use one of {', '.join(repr(v) for v in Copy.SymbolListMode.values)}."})
    if not isinstance(symbols, list) or not all(isinstance(symbol, str) for symbol in symbols):
        raise ValidationError({"symbol_list": "Give the markets as a list of symbols, e.g. BTC/USDT."})
    if mode == Copy.SymbolListMode.ALL:
        if symbols:
            raise ValidationError({"symbol_list": "Choose whether the list is of markets to copy (allow) or not to copy (deny)."})
        return []
    if not symbols:
        raise ValidationError({"symbol_list": "List at least one market, e.g. BTC/USDT."})
    if len(symbols) > Copy.MAX_SYMBOLS:
        raise ValidationError({"symbol_list": f"List at most {Copy.MAX_SYMBOLS} markets."})
    try:
        markets = gateway_for_account(account).markets()
    except ExchangeError as exc:
        raise ApplicationError(
            f"{account.exchange_id} did not give its list of markets; nothing changed. Try again shortly.",
            {"reason": exc.reason},
            status_code=503,
        ) from None
    resolved = set()
    for symbol in symbols:
        try:
            resolved.add(resolve_symbol(symbol, markets))
        except UnknownSymbolError as exc:
            raise ValidationError({"symbol_list": f"{exc.message} ({account.label} trades on {account.exchange_id})"}) from None
    return sorted(resolved)


def _validate_position_limits(limits: dict) -> None:
    """Each optional limit: None (unset) or within its bounds."""
    bounds = {
        "take_profit_percent": (ZERO, Decimal("10000"), "greater than 0 and at most 10000"),
        "stop_loss_percent": (ZERO, HUNDRED, "greater than 0 and below 100"),
        "max_exposure": (ZERO, None, "greater than 0"),
    }
    for name, value in limits.items():
        if value is None:
            continue
        if name == "max_open_positions":
            if not isinstance(value, int) or not 1 <= value <= 1000:
                raise ValidationError({name: "max_open_positions must be a whole number from 1 to 1000."})
            continue
        low, high, words = bounds[name]
        value = to_decimal(value)
        if not value.is_finite() or value <= low or (high is not None and (value >= high if name == "stop_loss_percent" else value > high)):
            raise ValidationError({name: f"{name} must be {words}."})


def copy_settings_validate(*, settings: dict) -> None:
    """The rules `copy_start` applies to these settings (a leader's recommendation is held to
    them too): ValidationError naming the first setting out of bounds."""
    if "allocation_percent" in settings:
        _validate_sizing_value(name="allocation_percent", value=settings["allocation_percent"])
    _validate_risk_settings(
        max_drawdown_stop=to_decimal(settings.get("max_drawdown_stop", Decimal("30"))),
        max_slippage_percent=to_decimal(settings.get("max_slippage_percent", Decimal("1"))),
        max_order_notional=None,
    )
    _validate_position_limits({name: settings[name] for name in POSITION_LIMITS if name in settings})


def _copyable_strategy(*, follower, strategy_id: int, invitation: str = "") -> Strategy:
    strategy = Strategy.objects.filter(id=strategy_id).first()
    visible = strategy is not None and (strategy.is_public_leader or strategy_invited(strategy=strategy, invitation=invitation))
    if strategy is None or (strategy.owner_id != follower.pk and not visible):
        raise NotFoundError("Strategy not found.")
    if strategy.owner_id == follower.pk:
        raise ApplicationError("You cannot copy your own strategy.")
    _check_strategy_copyable(strategy, invitation=invitation)
    return strategy


def strategy_invited(*, strategy: Strategy, invitation: str) -> bool:
    """Whether `invitation` is a valid invitation link's token for this strategy."""
    if not invitation:
        return False
    return any(answer is True for _, answer in invitation_accepts.send(sender=Strategy, strategy=strategy, token=invitation))


def _check_strategy_copyable(strategy: Strategy, *, invitation: str = "") -> None:
    if not strategy.is_public_leader and not strategy_invited(strategy=strategy, invitation=invitation):
        raise NotFoundError("Strategy not found.")
    if strategy.status != Strategy.Status.RUNNING:
        raise ConflictError(f"Strategy '{strategy.name}' is paused by its leader; it cannot be copied now.")
    if not strategy.accepting_copies:
        raise ConflictError(f"Strategy '{strategy.name}' is not accepting new copies right now.")
    copying_open_requested.send(sender=Strategy, owner=strategy.owner, strategy=strategy)


def _follower_account(*, follower, account_id: int) -> ExchangeAccount:
    account = ExchangeAccount.objects.filter(id=account_id, owner=follower).first()
    if account is None:
        raise NotFoundError("Exchange account not found.")
    _check_account_usable(account)
    _check_account_leads_nothing(account)
    return account


def _check_account_leads_nothing(account: ExchangeAccount) -> None:
    """An account either leads a strategy or receives copies, never both: the copies' orders
    would become its strategy's trades and be copied on, and a copy onto any account of a
    chain could close a loop (A copies B copies A). Copies only ever land on accounts that
    lead nothing, so no chain of copies, and so no cycle, can form."""
    leading = Strategy.objects.filter(leader_account=account).only("name").first()
    if leading is not None:
        raise ConflictError(
            f"Exchange account '{account.label}' leads your strategy '{leading.name}': an account either leads a strategy "
            "or receives copies, never both. Copy onto another account."
        )


def _check_account_usable(account: ExchangeAccount) -> None:
    if account.status != ExchangeAccount.Status.ACTIVE:
        raise ConflictError(
            f"Exchange account '{account.label}' is {account.status}: {account.get_status_reason_display() or 'reconnect it first'}."
        )


def _account_equity(*, account: ExchangeAccount, quote: str) -> Decimal:
    try:
        return to_decimal(gateway_for_account(account).equity(quote).equity)
    except PermanentExchangeError as exc:
        raise ApplicationError(f"{account.exchange_id} refused the balance request: {exc.message}", {"reason": exc.reason}) from None
    except ExchangeError as exc:
        raise ApplicationError(
            f"{account.exchange_id} did not answer the balance request; nothing changed. Try again shortly.",
            {"reason": exc.reason},
            status_code=503,
        ) from None


def _check_allocation(*, account: ExchangeAccount, new_percent: Decimal, excluding_id: int | None = None) -> None:
    """The 100 % is per exchange account. Call with the follower's row locked: the sum read
    here stays true until commit."""
    allocated = copy_allocation_used(exchange_account_id=account.pk, excluding_id=excluding_id)
    if allocated + new_percent > HUNDRED:
        raise ApplicationError(
            f"Allocation would reach {allocated + new_percent}% of exchange account '{account.label}': its live copies "
            f"already use {allocated}% and the copies on one account may not exceed 100% of it. Choose at most "
            f"{HUNDRED - allocated}%, or another account.",
            {"allocated_percent": str(allocated), "available_percent": str(HUNDRED - allocated), "exchange_account_id": account.pk},
        )


def _multiplier_notional(*, strategy: Strategy, multiplier: Decimal, copy_capital: Decimal) -> Decimal:
    """What a multiplier copy trades when its leader puts its whole capital in: multiplier ×
    the leader's capital (declared, else the equity its last trade was recorded with, else,
    before any trade, the copy's own capital)."""
    capital = strategy.declared_capital
    if capital is None:
        last = LeaderTrade.objects.filter(strategy=strategy).order_by("-sequence").values_list("leader_equity", flat=True).first()
        capital = last if last is not None else copy_capital
    return to_decimal(multiplier) * capital


def _check_multiplier_notional(
    *, follower, strategy: Strategy, multiplier: Decimal, copy_capital: Decimal, excluding_id: int | None = None
) -> None:
    """Multiplier copies are not bounded by the allocation limit (they size on the leader's
    notional, not on the follower's equity): together they may reach at most
    USER_MAX_MULTIPLIER_NOTIONAL. Call with the follower's row locked."""
    live = (
        Copy.objects.filter(follower=follower, status__in=Copy.LIVE_STATUSES, sizing_mode=Copy.SizingMode.MULTIPLIER)
        .exclude(id=excluding_id)
        .select_related("strategy")
    )
    used = sum(
        (_multiplier_notional(strategy=copy.strategy, multiplier=copy.multiplier, copy_capital=copy.copy_capital) for copy in live), ZERO
    )
    limit = settings.USER_MAX_MULTIPLIER_NOTIONAL
    wanted = _multiplier_notional(strategy=strategy, multiplier=multiplier, copy_capital=copy_capital)
    if used + wanted > limit:
        raise ApplicationError(
            f"Multiplier copies may together trade up to {limit} {strategy.quote_currency} at their leaders' full capital; "
            f"yours already reach {used:.2f} and this one would add {wanted:.2f}.",
            {"used_notional": f"{used:.2f}", "limit_notional": str(limit)},
        )


def _copy_locked(*, follower, copy_id: int) -> Copy:
    copy = copy_lock(copy_id=copy_id, follower_id=follower.pk)
    if copy is None:
        raise NotFoundError("Copy not found.")
    return copy


@transaction.atomic
def copy_stop(*, follower, copy_id: int, close_positions: bool = False) -> Copy:
    """Stop a copy for good (it stays as history). `close_positions` also closes what it holds at market."""
    copy = _copy_locked(follower=follower, copy_id=copy_id)
    if copy.status == Copy.Status.STOPPED:
        raise ConflictError("This copy is already stopped.")
    copy.status = Copy.Status.STOPPED
    copy.ended_at = timezone.now()
    copy.save(update_fields=["status", "ended_at", "updated_at"])
    Strategy.objects.filter(pk=copy.strategy_id).update(copiers_count=F("copiers_count") - 1)
    name = copy.strategy.name
    if close_positions:
        closes = copy_close_positions(copy_id=copy.pk, kind=CopiedTrade.Kind.CLOSE_ON_STOP)
        _copy_notify(
            copy,
            kind=Notification.Kind.COPY_CLOSED,
            title=f"You stopped your copy of {name}; its positions are being closed",
            body=f"{len(closes)} position(s) are being sold or bought back at market; each order's outcome is on the copy's page.",
        )
    else:
        _copy_notify(
            copy,
            kind=Notification.Kind.COPY_STOPPED,
            title=f"You stopped your copy of {name}",
            body="It copies nothing more and stays in your history. What it holds stays on your exchange account.",
        )
    logger.info("copy %s stopped by its follower (close positions: %s)", copy.pk, close_positions)
    return copy


@transaction.atomic
def copy_pause(*, follower, copy_id: int) -> Copy:
    """No new entries while paused; reductions and closes of what the copy holds still mirror."""
    copy = _copy_locked(follower=follower, copy_id=copy_id)
    if copy.status != Copy.Status.ACTIVE:
        raise ConflictError(f"Only an active copy can be paused; this one is {copy.status}.")
    copy.status = Copy.Status.PAUSED
    copy.pause_reason, copy.pause_detail = Copy.PauseReason.FOLLOWER, {}
    copy.save(update_fields=["status", "pause_reason", "pause_detail", "updated_at"])
    _copy_notify(
        copy,
        kind=Notification.Kind.COPY_PAUSED,
        title=f"You paused your copy of {copy.strategy.name}",
        body="It opens no new positions while paused; when the leader reduces or closes a position it holds, it still follows.",
    )
    return copy


@transaction.atomic
def copy_resume(*, follower, copy_id: int) -> Copy:
    """Resume a paused copy. Its drawdown restarts from the current copy equity: resuming
    after a stop-loss accepts the loss, and the old peak would trip the stop again at once."""
    copy = _copy_locked(follower=follower, copy_id=copy_id)
    if copy.status != Copy.Status.PAUSED:
        raise ConflictError(f"Only a paused copy can be resumed; this one is {copy.status}.")
    if not copy.strategy.accepting_copies:
        raise ConflictError(f"Strategy '{copy.strategy.name}' is not accepting copies right now.")
    copying_open_requested.send(sender=Strategy, owner=copy.strategy.owner, strategy=copy.strategy)
    _check_account_usable(copy.exchange_account)
    copy.status = Copy.Status.ACTIVE
    copy.pause_reason, copy.pause_detail = "", {}
    copy.peak_equity = copy.copy_equity
    copy.current_drawdown_percent = ZERO
    copy.save(update_fields=["status", "pause_reason", "pause_detail", "peak_equity", "current_drawdown_percent", "updated_at"])
    _copy_notify(
        copy,
        kind=Notification.Kind.COPY_RESUMED,
        title=f"You resumed your copy of {copy.strategy.name}",
        body="The leader's new entries are copied again. Its drawdown is measured from its equity now, "
        f"{format_money(copy.copy_equity, copy.strategy.quote_currency)}.",
    )
    return copy


def copy_update_check(*, follower, copy_id: int, data: dict) -> tuple[Copy, dict]:
    """Every check `copy_update` makes, without changing anything: the Edit page and the API's
    check run it to say what a change would do (or why it is refused) before the follower
    saves. The copy as it is, and the change as `copy_update` would make it (symbols resolved)."""
    data = _symbol_list_resolved(follower=follower, copy_id=copy_id, data=data)
    copy = copy_get(follower=follower, copy_id=copy_id)
    _update_validate(follower=follower, copy=copy, data=data)
    return copy, data


def _symbol_list_resolved(*, follower, copy_id: int, data: dict) -> dict:
    """A change of the copy's list of markets, checked with the exchange (network: before any
    transaction). Choosing "every market" clears the list."""
    if "symbol_list_mode" not in data and "symbol_list" not in data:
        return data
    copy = copy_get(follower=follower, copy_id=copy_id)
    mode = data.get("symbol_list_mode", copy.symbol_list_mode)
    kept = [] if mode == Copy.SymbolListMode.ALL else copy.symbol_list
    symbols = data.get("symbol_list", kept)
    symbols = _symbol_list_clean(mode=mode, symbols=symbols, account=copy.exchange_account)
    return {**data, "symbol_list_mode": mode, "symbol_list": symbols}


def _update_validate(*, follower, copy: Copy, data: dict) -> None:
    unknown = set(data) - COPY_UPDATABLE_FIELDS
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field cannot be changed."})
    if copy.status == Copy.Status.STOPPED:
        raise ConflictError("A stopped copy cannot be changed; start a new copy instead.")
    needed = sizing.SIZING_PARAMETER[copy.sizing_mode]
    for name in ("allocation_percent", "multiplier", "fixed_notional"):
        if name not in data:
            continue
        if name != needed:
            raise ValidationError({name: f"This copy uses {copy.sizing_mode} sizing; {name} does not apply."})
        _validate_sizing_value(name=name, value=data[name])
    _validate_risk_settings(
        max_drawdown_stop=data.get("max_drawdown_stop", copy.max_drawdown_stop),
        max_slippage_percent=data.get("max_slippage_percent", copy.max_slippage_percent),
        max_order_notional=data.get("max_order_notional", copy.max_order_notional),
    )
    if data.get("leverage_policy") == Copy.LeveragePolicy.FOLLOW and "leverage" not in data:
        data = {**data, "leverage": None}  # following the leader drops the copy's own N
    _validate_perpetual_settings(
        leverage_policy=data.get("leverage_policy", copy.leverage_policy),
        leverage=data.get("leverage", copy.leverage),
        margin_mode=data.get("margin_mode", copy.margin_mode),
    )
    _validate_position_limits({name: data[name] for name in POSITION_LIMITS if name in data})
    if "multiplier" in data and data["multiplier"] != copy.multiplier:
        _check_multiplier_notional(
            follower=follower,
            strategy=copy.strategy,
            multiplier=data["multiplier"],
            copy_capital=copy.copy_capital,
            excluding_id=copy.pk,
        )
    if "allocation_percent" in data and data["allocation_percent"] != copy.allocation_percent:
        _check_allocation(account=copy.exchange_account, new_percent=to_decimal(data["allocation_percent"]), excluding_id=copy.pk)


def copy_update(*, follower, copy_id: int, data: dict) -> Copy:
    """Change a live copy's sizing parameter, risk settings or list of markets. A change
    applies from the copy's next trade: positions already open are never resized, and exits of
    what it holds are mirrored whatever the list says (`copy_settings` says so).

    A new allocation rescales copy capital, equity and peak by new/old, so the copy's
    drawdown and P&L percentages carry over unchanged.
    """
    data = _symbol_list_resolved(follower=follower, copy_id=copy_id, data=data)
    return _copy_update_locked(follower=follower, copy_id=copy_id, data=data)


@transaction.atomic
def _copy_update_locked(*, follower, copy_id: int, data: dict) -> Copy:
    user_row_lock(user_id=follower.pk)
    copy = _copy_locked(follower=follower, copy_id=copy_id)
    _update_validate(follower=follower, copy=copy, data=data)
    if "allocation_percent" in data and data["allocation_percent"] != copy.allocation_percent:
        ratio = to_decimal(data["allocation_percent"]) / copy.allocation_percent
        copy.copy_capital = _money(copy.copy_capital * ratio)
        copy.copy_equity = _money(copy.copy_equity * ratio)
        copy.peak_equity = _money(copy.peak_equity * ratio)
    settings_before = {field: getattr(copy, field) for field in data}
    for field, value in data.items():
        setattr(copy, field, value)
    copy.full_clean(validate_constraints=False)
    copy.save()
    before, after = audit_changes(settings_before, {field: getattr(copy, field) for field in data})
    if after:
        audit_record(action=AuditEntry.Action.COPY_SETTINGS_CHANGED, target=copy, before=before, after=after, actor=follower)
    return copy


# Why an account stopped trading → why its copies are paused.
PAUSE_REASON_OF_ACCOUNT = {
    ExchangeAccount.StatusReason.INVALID_CREDENTIALS: Copy.PauseReason.INVALID_CREDENTIALS,
    ExchangeAccount.StatusReason.CAN_WITHDRAW: Copy.PauseReason.KEY_CAN_WITHDRAW,
}


@transaction.atomic
def exchange_account_invalidate(*, account_id: int, reason: str = ExchangeAccount.StatusReason.INVALID_CREDENTIALS) -> None:
    """The exchange refused the account's key (or says it may withdraw: `reason`): mark it
    invalid, pause its active copies (their exits still run, and fail visibly until the
    follower reconnects), tell the follower once."""
    account = ExchangeAccount.objects.select_for_update(of=("self",)).select_related("owner").filter(id=account_id).first()
    if account is None or account.status != ExchangeAccount.Status.ACTIVE:
        return
    account.status = ExchangeAccount.Status.INVALID
    account.status_reason = reason
    account.save(update_fields=["status", "status_reason", "updated_at"])
    paused = Copy.objects.filter(exchange_account_id=account_id, status=Copy.Status.ACTIVE).update(
        status=Copy.Status.PAUSED, pause_reason=PAUSE_REASON_OF_ACCOUNT[reason], pause_detail={}
    )
    notification_send(
        user=account.owner,
        kind=Notification.Kind.ACCOUNT_INVALID,
        title=f"Exchange account '{account.label}' needs a new API key",
        body=f"{sentence(account.get_status_reason_display())} {paused} copy(ies) on it were paused; "
        "reconnect the account, then resume them.",
    )
    logger.warning("exchange account %s: key refused (%s); %s copies paused", account_id, reason, paused)


def exchange_accounts_keys_verify() -> dict[str, int]:
    """The nightly key check: every active exchange account's key asked about again; one the
    exchange refuses (revoked, expired) or says may withdraw has its copies paused and its
    follower told. How many were checked and how many failed."""
    ids = list(ExchangeAccount.objects.filter(status=ExchangeAccount.Status.ACTIVE).exclude(exchange_id=PAPER).values_list("id", flat=True))
    failed = 0
    for account_id in ids:
        reason = exchange_account_key_verify(account_id=account_id)
        if reason:
            exchange_account_invalidate(account_id=account_id, reason=reason)
            failed += 1
    return {"checked": len(ids), "failed": failed}
