"""Execution of one copied trade (ARCHITECTURE.md data flow 4), top to bottom: load -> claim ->
size -> risk -> rate-limit token -> submitted mark -> place or look up -> record.

Exactly once, per (leader trade, copy):
- the fan-out (`fanout`) inserts one copied trade per eligible copy under the
  unique (copy, leader_trade) constraint (insert-or-ignore), so a re-run adds nothing;
- an execution claims its row with a compare-and-set on `attempts` (the fencing token) and
  takes a lease; every later write of that run is conditional on the same token, so a run
  whose lease was taken over can neither send an order nor record a fill;
- `submitted_at` is written (fenced) *before* the order is sent with its deterministic
  client order id. A run that finds it set looks the order up by client order id first and
  records what the exchange has; only when the exchange has no such order and the order can
  no longer arrive (`COPYTRADE_ORDER_SETTLE_SECONDS`, longer than the signed request's
  recvWindow) is it placed again, with the same client order id and amount;
- a transient error means nothing happened at the exchange (exchanges.errors), so
  `submitted_at` is cleared and the run retried.

Leases (issue 15: a dead worker's rows are final within seconds, not minutes). A run holds
its row by `lease_expires_at`, from the moment it loads a pending row (the pick-up mark,
written by the load statement itself, so the hot path costs no statement more) to its
last write. The lease is short (COPYTRADE_EXECUTION_LEASE_SECONDS: one exchange call,
EXCHANGE_TIMEOUT_MS, plus a margin) and renewed (fenced) before every further exchange
call of a run, so a live run keeps it and a dead one loses it within seconds. A run that
waits (ordering, rate limit, an order still settling or working) re-sends its message with
a countdown and keeps the row: the lease then covers the wait plus
COPYTRADE_WAIT_GRACE_SECONDS, and the message carries the row's `attempts` as its token.
The rule every message follows: a row whose lease is live belongs to its holder, and only
the holder's message (token == attempts) runs it; any other message leaves it alone. So
the sweeper (copytrade/services/sweeper.py) may take back any open row the moment its lease
has ended: its holder, or the message the holder re-sent, is gone (a killed worker takes
its in-flight runs and the countdown messages it held with it). The sweeper bumps
`attempts` when it takes a row back, so the old holder is fenced out and a late message of
the old chain runs only if nobody holds the row by then: one chain per row, never two.

Per-copy order: a copied trade runs only when the copy's copied trades of
lower sequence are terminal, and the fan-out of a leader trade waits for the fan-out of the
strategy's previous leader trade, so a lower sequence always exists before a higher one runs.

Every copied trade ends filled, partially_filled, skipped(reason) or failed(reason); the
reason column holds a code of `CopiedTrade.Reason` (numbers its sentence needs go to
`reason_detail`), the log line the exchange's own text, and the follower's notification
the sentence (`copytrade.reasons`). Skipped: sizing (below the exchange minimum, no
position), risk (paused, stopped, strategy closed, slippage, margin) and lateness (an entry
not sent within COPY_MAX_ENTRY_DELAY_SECONDS of the leader's trade, copytrade/lateness.py:
asked right before the order goes out, never once it may have been sent). Failed: account
invalid, key refused, not filled, exchange unavailable (out of retries, nothing sent), or
the exchange error's own code (insufficient funds, order rejected...). A filled row may
note that it was clamped to the largest-order limit, rounded up to the minimum, or partly
filled, or cut to the platform's largest order for a multiplier copy.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from copytrade import execution_statements as statements
from copytrade import lateness, perpetuals, risk, sizing
from copytrade.cross_exchange import market_not_listed
from copytrade.currency import QuoteNotConvertible, follower_market_conversion_check, quote_rate_at_fill
from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade
from copytrade.positions import Fill, copy_apply_pnl, position_apply_fill, stop_loss_hit, unrealised_pnl
from copytrade.quality import copy_quality_of_fill
from copytrade.reasons import copied_trade_reason_text, sentence
from copytrade.services.copies import exchange_account_invalidate
from copytrade.services.late_notices import copied_trade_late_notify
from copytrade.services.platform_closes import copy_stop_loss_check
from core import metrics
from core.models import Notification
from core.money import ZERO, to_money
from core.notifications import notification_send_grouped
from exchanges.errors import (
    BelowExchangeMinimumError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidCredentialsError,
    OrderNotFoundError,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownOutcomeError,
    UnknownSymbolError,
)
from exchanges.fees import fee_kept_from_amount, order_fee_in_quote
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount
from exchanges.perpetuals import perpetual_settings_ensure
from exchanges.ratelimit import reserve_order_slot
from exchanges.types import MarketRules, OrderResult

logger = logging.getLogger(__name__)


Reason = CopiedTrade.Reason

# An order that is still working (rare for market orders) is looked at again this soon.
WORKING_ORDER_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class ExecutionOutcome:
    status: str  # the copied trade's status after this run ("" when the row is gone)
    retry_in: float | None = None  # run again in this many seconds
    reason: str = ""
    waiting_for: str = ""  # why it runs again: for the log
    token: int | None = None  # what the re-sent message carries (the row's attempts)


@dataclass
class _Run:
    """What one run knows beyond its row: passed along the story, never stored."""

    trade: CopiedTrade
    # The copy's position in the trade's symbol as the load read it (None: it holds none yet);
    # with no earlier copied trade open it is what the order is sized from and the fill moves.
    position: FollowerPosition | None
    lease_written_at: float = 0.0  # time.monotonic() of this run's last lease write


def copied_trade_execute(*, copied_trade_id: int, token: int | None = None) -> ExecutionOutcome:
    """Run one copied trade as far as it can go now. Safe to call any number of times.

    `token`: the row's `attempts` when the run that re-sent this message (a wait) left it;
    None for the fan-out's and the sweeper's messages. A row another run holds (live lease,
    token not its own) is left to that run.

    A pending row is claimed by its first write (the submitted mark, or the outcome of a
    skip) with the same compare-and-set on `attempts` as a separate claim: one statement
    fewer per follower. A row left executing by an earlier run is claimed first.
    """
    now = timezone.now()
    loaded = statements.load(copied_trade_id, token=token, now=now, lease_expires_at=_lease_expiry(now))
    if loaded is None:
        return ExecutionOutcome(status="")
    trade, position, earlier_open = loaded
    if trade.status in CopiedTrade.TERMINAL:
        return ExecutionOutcome(status=trade.status, reason=trade.reason)
    continuing = token is not None and token == trade.attempts
    if not continuing and trade.lease_expires_at is not None and trade.lease_expires_at >= now:
        # Another run holds it, or waits with a message of its own: a duplicate (a late
        # message of a chain the sweeper replaced, a broker redelivery) ends here.
        return ExecutionOutcome(status=trade.status)
    run = _Run(trade=trade, position=position, lease_written_at=time.monotonic())  # the load's pick-up mark (pending rows)
    if earlier_open:
        # Waiting for its turn is not being stuck: the row's lease covers the wait, so the
        # sweeper leaves it alone while the re-sent message is alive (found by the fault soak:
        # a sweeper that took long waits for lost messages started one more polling chain).
        seconds = settings.COPYTRADE_ORDERING_RETRY_SECONDS
        _touch_waiting(trade, seconds=seconds)
        return ExecutionOutcome(
            status=trade.status, retry_in=seconds, waiting_for="an earlier copied trade of this copy", token=trade.attempts
        )
    # Nothing of lower sequence is open, and nothing of lower sequence can appear any more
    # (fan-outs run in order; platform closes take higher numbers): what this copy holds now
    # is what the order is sized from.
    token = None
    if trade.status == CopiedTrade.Status.EXECUTING or trade.submitted_at is not None:
        token = _claim(run, continuing=continuing)
        if token is None:  # another run holds a live lease; it finishes the row
            return ExecutionOutcome(status=trade.status)
    try:
        return _run(run, token=token)
    except Exception:
        # Whatever went wrong, the next run (a retry, the sweeper) may claim it at once.
        _release(trade, token=token)
        raise


def _wait_expiry(seconds: float):
    """A waiting run's lease: until its re-sent message is due, plus the grace a due message
    may take to start (a busy pool); past that the message is presumed lost."""
    return timezone.now() + timedelta(seconds=seconds + settings.COPYTRADE_WAIT_GRACE_SECONDS)


def _touch_waiting(trade: CopiedTrade, *, seconds: float) -> None:
    trade.enqueued_at = timezone.now()
    trade.lease_expires_at = _wait_expiry(seconds)
    statements.waiting_mark(trade)


def _lease_expiry(now=None):
    return (now or timezone.now()) + timedelta(seconds=settings.COPYTRADE_EXECUTION_LEASE_SECONDS)


# A lease written less than this long ago is not renewed before an exchange call: the
# normal path (claim, then one order) writes it once (test_execution counts its statements).
LEASE_FRESH_SECONDS = 1.0


def _lease_renew(run: _Run, *, token: int) -> bool:
    """Before a further exchange call: extend this run's lease (fenced). False when the row
    was taken over (the run must neither send nor record)."""
    if time.monotonic() - run.lease_written_at < LEASE_FRESH_SECONDS:
        return True
    run.trade.lease_expires_at = _lease_expiry()
    if not statements.lease_write(run.trade, token=token):
        return False
    run.lease_written_at = time.monotonic()
    return True


def _claim(run: _Run, *, continuing: bool = False) -> int | None:
    """Compare-and-set on `attempts`: pending, or executing with an expired (or no) lease, or
    executing and `continuing` (the message of the run that holds it, back after a wait).
    The row comes back as the claim left it: what an earlier run wrote is what this one sees."""
    if not statements.claim(run.trade, continuing=continuing, lease_expires_at=_lease_expiry(), now=timezone.now()):
        return None
    run.lease_written_at = time.monotonic()
    return run.trade.attempts


def _claim_and_submit(run: _Run, *, size: sizing.OrderSize, note: str) -> int | None:
    """A pending row still at the `attempts` it was read with: claim it and mark it submitted
    in one statement, before its order is sent. The claim's token, or None (another run won)."""
    trade = run.trade
    trade.side, trade.requested_amount, trade.follower_size_quote, trade.reason = size.side, size.amount, to_money(size.notional), note
    trade.submitted_at = timezone.now()
    trade.lease_expires_at = _lease_expiry()
    trade.status = CopiedTrade.Status.EXECUTING
    claimed_from = trade.attempts
    trade.attempts += 1
    changed = statements.submitted_claim(trade, claimed_from=claimed_from)
    run.lease_written_at = time.monotonic()
    return trade.attempts if changed else None


def _release(trade: CopiedTrade, *, token: int | None) -> None:
    """After an error: any message may take the row at once (Celery's retry, or the sweeper's)."""
    trade.lease_expires_at = timezone.now()
    statements.lease_write(trade, token=token)


def _wait(trade: CopiedTrade, *, token: int | None, seconds: float, why: str) -> ExecutionOutcome:
    """Keep the row over a wait: the lease runs until the re-sent message is due (plus the
    grace), and that message carries the token that lets it in (see the module doc)."""
    seconds = max(float(seconds), 0.05)
    trade.lease_expires_at = _wait_expiry(seconds)
    statements.lease_write(trade, token=token)
    status = CopiedTrade.Status.EXECUTING if token is not None else trade.status
    return ExecutionOutcome(status=status, retry_in=seconds, waiting_for=why, token=trade.attempts if token is None else token)


def _run(run: _Run, *, token: int | None) -> ExecutionOutcome:
    """Size and risk-check a fresh order, take its rate-limit token, mark it submitted, then
    place it (or, for an order that may already have been sent, look it up) and record it."""
    trade = run.trade
    account = trade.copy.exchange_account
    if account.status != ExchangeAccount.Status.ACTIVE:
        return _finish(
            trade,
            token=token,
            status=CopiedTrade.Status.FAILED,
            reason=Reason.ACCOUNT_INVALID,
            message=f"Exchange account '{account.label}' is {account.status}: {account.get_status_reason_display()}",
        )
    try:
        gateway = gateway_for_account(account)
        market = gateway.market(trade.symbol)
        if trade.submitted_at is not None:
            return _place_or_look_up(run, token=token, gateway=gateway, market=market, look_up_first=True)
        if trade.copy.status == Copy.Status.ACTIVE:  # a paused or stopped copy's entries say so instead
            lateness.check_entry_in_time(trade, now=timezone.now())  # a stale backlog's entries cost the exchange nothing
        follower_market_conversion_check(gateway=gateway, market=market)
        price = gateway.ticker_price(market.symbol)
        size, note = _size(run, gateway=gateway, market=market, price=price)
    except (sizing.SizingSkip, risk.RiskSkip, QuoteNotConvertible) as skip:
        return _finish(trade, token=token, status=CopiedTrade.Status.SKIPPED, reason=skip.reason, message=skip.message, detail=skip.detail)
    except RateLimitedError as exc:
        return _wait(trade, token=token, seconds=exc.retry_after or 1.0, why="the exchange's rate limit")
    except UnknownSymbolError as exc:  # the leader's market (unified symbol) is not on the follower's exchange
        skip = market_not_listed(account=account, symbol=trade.symbol, error=exc)
        return _finish(trade, token=token, status=CopiedTrade.Status.SKIPPED, reason=skip.reason, message=skip.message, detail=skip.detail)
    except PermanentExchangeError as exc:  # a refused read (bad key): nothing was sent
        return _refused(trade, token=token, error=exc)
    wait = _order_slot(account)
    if wait > 0:
        return _wait(trade, token=token, seconds=wait, why="a rate-limit token")
    try:
        # Right before the order goes out, after any rate-limit wait (a long one re-sends the
        # task, which comes back through here): an entry past the limit is never placed.
        lateness.check_entry_in_time(trade, now=timezone.now())
    except risk.RiskSkip as skip:
        return _finish(trade, token=token, status=CopiedTrade.Status.SKIPPED, reason=skip.reason, message=skip.message, detail=skip.detail)
    token = _mark_submitted(run, token=token, size=size, note=note)
    if token is None:
        return ExecutionOutcome(status=CopiedTrade.Status.EXECUTING)  # another run claimed it, or took the lease over
    try:
        return _place_or_look_up(run, token=token, gateway=gateway, market=market, look_up_first=False, price=price)
    except Exception:
        _release(trade, token=token)
        raise


def _size(run: _Run, *, gateway, market: MarketRules, price: Decimal) -> tuple[sizing.OrderSize, str]:
    """(order size, note for the reason column). Raises SizingSkip / RiskSkip."""
    trade = run.trade
    copy = trade.copy
    if trade.kind == CopiedTrade.Kind.RESYNC:
        # The drift pass chose side and amount: what takes the account back to the copy's record.
        held = trade.requested_amount if trade.side == "sell" else -trade.requested_amount
        return sizing.exit_size(held=held, fraction=Decimal(1), price=price, market=market), ""
    if trade.kind == CopiedTrade.Kind.START_OPEN:
        # The leader's position when the copy started: as an entry of its size at its entry price.
        detail = trade.reason_detail
        risk.check_entry_allowed(copy=copy, strategy=trade.strategy)
        risk.check_symbol_list(copy=copy, symbol=market.symbol)
        risk.check_not_worse_than_entry(
            side=trade.side, entry=Decimal(detail["leader_entry"]), price=price, max_slippage_percent=copy.max_slippage_percent
        )
        notional = sizing.entry_notional(
            sizing_mode=copy.sizing_mode,
            leader_notional=Decimal(detail["leader_notional"]),
            leader_equity=Decimal(detail["leader_equity"]),
            copy_capital=copy.copy_capital + copy.realized_pnl,
            multiplier=copy.multiplier,
            fixed_notional=copy.fixed_notional,
        )
        return _entry_size(trade, notional=notional, market=market, price=price)
    if trade.kind == CopiedTrade.Kind.MIRROR and sizing.is_entry(trade.effect):
        leader_trade = trade.leader_trade
        risk.check_entry_allowed(copy=copy, strategy=trade.strategy)
        risk.check_symbol_list(copy=copy, symbol=market.symbol)
        risk.check_slippage(leader_price=leader_trade.price, current_price=price, max_slippage_percent=copy.max_slippage_percent)
        notional = sizing.copy_entry_notional(copy=copy, leader_trade=leader_trade)
        leverage = None
        if market.is_perpetual:
            leverage = perpetuals.copy_leverage(policy=copy.leverage_policy, leverage=copy.leverage, leader_leverage=leader_trade.leverage)
            notional = perpetuals.entry_notional_on_margin(
                sizing_mode=copy.sizing_mode, notional=notional, leader_leverage=leader_trade.leverage, leverage=leverage
            )
        size, note = _entry_size(trade, notional=notional, market=market, price=price)
        # A perpetual's entry must set its leverage first, and its free margin is read then:
        # the follower is told what the entry needed and what was free.
        if leverage is not None:
            _perpetual_entry_ready(copy, gateway=gateway, market=market, leverage=leverage, notional=size.notional)
        return size, note
    if trade.kind == CopiedTrade.Kind.MIRROR and copy.status == Copy.Status.STOPPED:
        raise risk.RiskSkip(Reason.COPY_STOPPED, "The copy is stopped; its positions are the follower's to manage.")
    held = run.position.quantity if run.position else ZERO
    fraction = trade.leader_trade.reduce_fraction if trade.effect == LeaderTrade.Effect.REDUCE else Decimal(1)
    size = sizing.exit_size(held=held, fraction=fraction, price=price, market=market)
    if trade.kind == CopiedTrade.Kind.MIRROR and size.side != trade.side:
        raise sizing.SizingSkip(Reason.NO_POSITION, f"The copy holds no position on the side the leader {trade.effect}s.")
    return size, ""


def _perpetual_entry_ready(copy: Copy, *, gateway, market: MarketRules, leverage: int, notional: Decimal) -> None:
    """Before a perpetual entry: the account's leverage and margin mode on the market as the
    copy asks (set once per symbol, again when they change), and free margin for the entry.
    Raises RiskSkip (leverage_not_set, insufficient_margin); transient errors retry the run."""
    try:
        perpetual_settings_ensure(
            account=copy.exchange_account,
            gateway=gateway,
            symbol=market.symbol,
            leverage=leverage,
            margin_mode=copy.margin_mode,
        )
    except (InvalidCredentialsError, UnknownSymbolError):
        raise
    except PermanentExchangeError as exc:
        raise risk.RiskSkip(
            Reason.LEVERAGE_NOT_SET,
            f"The exchange refused {leverage}x {copy.margin_mode} on {market.symbol}: {exc.detail}",
            detail={"leverage": leverage, "margin_mode": copy.margin_mode},
        ) from None
    free = gateway.perpetual_free_margin(market.quote)
    needed = perpetuals.margin_needed(notional=notional, leverage=leverage)
    if free < needed:
        raise risk.RiskSkip(
            Reason.INSUFFICIENT_MARGIN,
            f"The entry needs {needed} {market.quote} of margin at {leverage}x; the account has {free} free.",
            detail={"needed": str(to_money(needed)), "free": str(to_money(free)), "leverage": leverage, "quote": market.quote},
        )


def _entry_size(trade: CopiedTrade, *, notional: Decimal, market: MarketRules, price: Decimal) -> tuple[sizing.OrderSize, str]:
    """An entry of `notional` through the copy's limits: largest order, the multiplier cap, its
    caps on positions and exposure, the market's precision."""
    copy = trade.copy
    notional, clamped = risk.clamp_to_max_order_notional(notional=notional, max_order_notional=copy.max_order_notional)
    notional, capped = risk.clamp_to_multiplier_cap(notional=notional, sizing_mode=copy.sizing_mode)
    risk.check_position_limits(copy=copy, symbol=trade.symbol, notional=notional)
    size = sizing.entry_size(side=trade.side, notional=notional, price=price, market=market, round_up_to_minimum=copy.round_up_to_minimum)
    # Margin: the exchange is the authority. Its refusal of an entry for funds is a skip
    # (insufficient_margin, in _refused); a balance read before every entry would double
    # the round trips to the exchange per follower and could be stale by the order anyway.
    if capped:
        note = Reason.CLAMPED_TO_MULTIPLIER_CAP
    elif clamped:
        note = Reason.CLAMPED_TO_MAX_ORDER_NOTIONAL
    else:
        note = Reason.ROUNDED_UP_TO_MINIMUM if size.rounded_up else ""
    return size, note


def _order_slot(account: ExchangeAccount) -> float:
    """Take a rate-limit token for one order: 0.0 when taken, else seconds to wait.

    A wait up to COPYTRADE_RATE_LIMIT_INLINE_WAIT_SECONDS reserves the bucket's next slot
    and sleeps until it here (nothing is claimed or sent meanwhile); only a longer wait goes
    back to the caller, to re-send the task with a countdown.
    """
    reserved, wait = reserve_order_slot(
        exchange_id=account.exchange_id, account_id=account.pk, within=settings.COPYTRADE_RATE_LIMIT_INLINE_WAIT_SECONDS
    )
    if not reserved:
        return wait
    if wait > 0:
        time.sleep(wait)
    return 0.0


def _mark_submitted(run: _Run, *, token: int | None, size: sizing.OrderSize, note: str) -> int | None:
    """Write the order's size and the submitted mark before the order is sent (fenced); a
    pending row is claimed by this same write. The claim's token, or None."""
    if token is None:
        return _claim_and_submit(run, size=size, note=note)
    trade = run.trade
    trade.submitted_at, trade.side, trade.requested_amount = timezone.now(), size.side, size.amount
    trade.follower_size_quote, trade.reason = to_money(size.notional), note
    if not statements.submitted_mark(trade, token=token):
        return None
    return token


def _place_or_look_up(
    run: _Run, *, token: int, gateway, market: MarketRules, look_up_first: bool, price: Decimal | None = None
) -> ExecutionOutcome:
    """Send the order (no transaction is open here) and record what the exchange answers.
    `price`: the last price the order was just sized at (the gateway checks a market order's
    cost at it instead of asking again); an order placed again later asks afresh.

    Whenever the order may already be at the exchange (an earlier run sent it, or this send
    timed out after leaving), the exchange's word is taken first: the order is looked up by
    its client order id, and only when the exchange has no such order and it can no longer
    arrive (COPYTRADE_ORDER_SETTLE_SECONDS after it was sent) is it sent again, same id.
    """
    trade = run.trade
    while True:
        if not _lease_renew(run, token=token):
            return ExecutionOutcome(status=CopiedTrade.Status.EXECUTING)  # taken over: neither send nor record
        if look_up_first:
            price = None  # whatever is sent after a look-up is sent later than the sizing
            try:
                result = gateway.fetch_order_by_client_id(symbol=market.symbol, client_order_id=trade.client_order_id)
            except RateLimitedError as exc:
                return _wait(trade, token=token, seconds=exc.retry_after or 1.0, why="the exchange's rate limit")
            except OrderNotFoundError:
                submitted = CopiedTrade.objects.filter(pk=trade.pk).values_list("submitted_at", flat=True).first() or timezone.now()
                unsettled = settings.COPYTRADE_ORDER_SETTLE_SECONDS - (timezone.now() - submitted).total_seconds()
                if unsettled > 0:
                    return _wait(trade, token=token, seconds=unsettled, why="an order that may still arrive")
                wait = _order_slot(trade.copy.exchange_account)
                if wait > 0:
                    return _wait(trade, token=token, seconds=wait, why="a rate-limit token")
                try:
                    # The exchange has no such order and it can no longer arrive: sending it now
                    # is a fresh send, and an entry past the limit is not placed.
                    lateness.check_entry_in_time(trade, now=timezone.now())
                except risk.RiskSkip as skip:
                    return _finish(
                        trade, token=token, status=CopiedTrade.Status.SKIPPED, reason=skip.reason, message=skip.message, detail=skip.detail
                    )
                trade.submitted_at, trade.lease_expires_at = timezone.now(), _lease_expiry()
                if not statements.resubmitted_mark(trade, token=token):
                    return ExecutionOutcome(status=CopiedTrade.Status.EXECUTING)
                run.lease_written_at = time.monotonic()
                logger.info("copied trade %s: order %s never reached the exchange; placing it again", trade.pk, trade.client_order_id)
                look_up_first = False
                continue
            except PermanentExchangeError as exc:
                return _refused(trade, token=token, error=exc)
            return _record(run, token=token, result=result, market=market, gateway=gateway)
        try:
            result = gateway.create_order(
                symbol=market.symbol,
                side=trade.side,
                amount=trade.requested_amount,
                client_order_id=trade.client_order_id,
                reduce_only=market.type != "spot" and not sizing.is_entry(trade.effect),
                reference_price=price,
            )
        except (UnknownOutcomeError, DuplicateClientOrderIdError) as exc:
            logger.warning("copied trade %s: %s; looking the order up by client order id", trade.pk, exc.reason)
            look_up_first = True
            continue
        except TransientExchangeError as exc:
            # Nothing happened at the exchange: the next run places the order afresh.
            trade.submitted_at = None
            statements.submitted_clear(trade, token=token)
            if isinstance(exc, RateLimitedError):
                return _wait(trade, token=token, seconds=exc.retry_after or 1.0, why="the exchange's rate limit")
            raise
        except PermanentExchangeError as exc:
            return _refused(trade, token=token, error=exc)
        return _record(run, token=token, result=result, market=market, gateway=gateway)


def _record(run: _Run, *, token: int, result: OrderResult, market: MarketRules, gateway) -> ExecutionOutcome:
    """The fill → copied trade, position, realised P&L (and in the billing currency at the
    quote's rate now), equity, drawdown, all written at once: in one statement when the copy
    and its position are as the run loaded them (`_write_fill_at_once`), else in one
    transaction under the copy's row lock."""
    answered_at = timezone.now()  # the exchange's answer is here (before any further call)
    trade = run.trade
    if result.status == "open" and result.filled < result.amount:
        return _wait(trade, token=token, seconds=WORKING_ORDER_RECHECK_SECONDS, why="a working order")
    if result.filled <= 0:
        return _finish(
            trade,
            token=token,
            status=CopiedTrade.Status.FAILED,
            reason=Reason.NOT_FILLED,
            message=f"The exchange ended the order ({result.status}) without a fill.",
        )
    # Network before the transaction; a pegged quote asks nobody. A transient failure here
    # retries the run, which finds this order by its client order id and records it then.
    rate = quote_rate_at_fill(gateway=gateway, market=market)
    price = result.average_price or result.cost / result.filled
    # A fee in a third currency (BNB) is priced on the follower's exchange: a network call,
    # so before the transaction too; a fee in the quote or the base asks nobody.
    fee = order_fee_in_quote(
        gateway=gateway, market=market, result=result, price=price, fill_id=f"order {result.exchange_order_id} (copied trade {trade.pk})"
    )
    # A buy whose fee is taken in the base currency leaves that much less in the account.
    received = result.filled - fee_kept_from_amount(market=market, side=result.side, fee=result.fee, fee_currency=result.fee_currency)
    fill = Fill(side=result.side or trade.side, amount=received, price=price, fee_quote=fee, contract_size=market.contract_size)
    now = timezone.now()
    if trade.kind == CopiedTrade.Kind.RESYNC:
        return _record_resync(trade, token=token, fill=fill, result=result, market=market, rate=rate, now=now)
    written = _write_fill_at_once(
        run, token=token, fill=fill, result=result, market=market, rate=rate, now=now, acknowledged_at=result.timestamp or answered_at
    )
    if written is statements.TAKEN_OVER:
        return _as_it_is_now(trade)
    if written is None:  # the copy or its position moved since the load: under the lock
        with transaction.atomic():
            copy = statements.lock_for_record(trade, token=token)
            if copy is None:
                return _as_it_is_now(trade)
            # Positions of a copy are written only under its row lock (just taken): no insert
            # race, so no get_or_create savepoint, and a new position is one INSERT.
            position = statements.copy_position(copy_id=copy.pk, symbol=trade.symbol)
            position = position or FollowerPosition(copy=copy, symbol=trade.symbol)
            _fill_apply(
                trade,
                copy,
                position,
                fill=fill,
                result=result,
                market=market,
                rate=rate,
                now=now,
                acknowledged_at=result.timestamp or answered_at,
            )
            statements.fill_write_locked(trade, copy, position)
        written = copy
    if trade.kind == CopiedTrade.Kind.MIRROR and lateness.is_late(trade, now=now):
        copied_trade_late_notify(trade=trade, now=now, skipped=False)
    if written.status == Copy.Status.ACTIVE and stop_loss_hit(written):
        # After the fill is committed (at once, outside a transaction), under the locks in
        # their order (copytrade/locks.py); if it fails, the next mark-to-market pass trips it
        # (robust: the fill is recorded either way).
        copy_id = written.pk
        transaction.on_commit(lambda: copy_stop_loss_check(copy_id=copy_id), robust=True)
    metrics.copied_trade_ended(trade, status=trade.status)
    logger.info("copied trade %s %s %s %s at %s (pnl %s)", trade.pk, trade.status, trade.side, result.filled, price, trade.pnl_quote)
    return ExecutionOutcome(status=trade.status, reason=trade.reason)


def _record_resync(
    trade: CopiedTrade, *, token: int, fill: Fill, result: OrderResult, market: MarketRules, rate: Decimal | None, now
) -> ExecutionOutcome:
    """A resync's fill moves the account to the copy's recorded position, not the record: the
    copy's position and P&L stay as they are (what it traded was outside the copy)."""
    position = FollowerPosition(copy=trade.copy, symbol=trade.symbol)
    _fill_apply(
        trade,
        trade.copy,
        position,
        fill=fill,
        result=result,
        market=market,
        rate=rate,
        now=now,
        acknowledged_at=result.timestamp or now,
    )
    trade.pnl_quote = trade.pnl_billing = ZERO
    if not statements.resync_fill_write(trade, token=token):
        return _as_it_is_now(trade)
    logger.info("copied trade %s (resync) %s %s %s at %s", trade.pk, trade.status, trade.side, result.filled, fill.price)
    return ExecutionOutcome(status=trade.status, reason=trade.reason)


def _as_it_is_now(trade: CopiedTrade) -> ExecutionOutcome:
    """Another run took the row over or recorded it: the row's status now ("" when gone)."""
    status = CopiedTrade.objects.filter(pk=trade.pk).values_list("status", flat=True).first()
    return ExecutionOutcome(status=status or "")


def _fill_apply(
    trade: CopiedTrade,
    copy: Copy,
    position: FollowerPosition,
    *,
    fill: Fill,
    result: OrderResult,
    market: MarketRules,
    rate: Decimal | None,
    now,
    acknowledged_at,
) -> None:
    """Move the position, the copy and the copied trade by the fill (in memory).
    `acknowledged_at`: the exchange's timestamp of the order, or when its answer arrived."""
    pnl = to_money(position_apply_fill(position, fill=fill) - fill.fee_quote)
    position.realized_pnl = to_money(position.realized_pnl + pnl)
    copy_apply_pnl(copy, pnl=pnl, unrealised=unrealised_pnl(position, price=fill.price, contract_size=market.contract_size))
    partial = trade.requested_amount is not None and result.filled < trade.requested_amount
    trade.status = CopiedTrade.Status.PARTIALLY_FILLED if partial else CopiedTrade.Status.FILLED
    if partial:
        trade.reason = Reason.PARTIAL_FILL
    trade.filled_amount = result.filled
    trade.average_price = to_money(fill.price)
    trade.fee = to_money(fill.fee_quote)
    trade.quote_currency, trade.pnl_quote, trade.quote_rate = market.quote.upper(), pnl, rate
    trade.pnl_billing = to_money(pnl * rate) if rate is not None else ZERO
    trade.follower_size_quote = to_money(result.cost or result.filled * fill.price * market.contract_size)
    trade.exchange_order_id = result.exchange_order_id
    trade.acknowledged_at = now
    trade.finished_at = now
    trade.lease_expires_at = None
    if trade.leader_trade is not None:
        trade.delay_ms, trade.price_gap_bps = copy_quality_of_fill(
            leader_trade=trade.leader_trade, side=trade.side, average_price=trade.average_price, acknowledged_at=acknowledged_at
        )


def _write_fill_at_once(
    run: _Run, *, token: int, fill: Fill, result: OrderResult, market: MarketRules, rate: Decimal | None, now, acknowledged_at
):
    """Apply the fill to the copy and position the run loaded and write it all as one
    statement (`statements.fill_write_at_once`): the copy as written, `statements.TAKEN_OVER`
    when this run no longer holds the row, or None when nothing was written because the
    copy's P&L figures or its position are no longer what were loaded (mark-to-market, a
    change of capital; the caller then records under the lock)."""
    trade = run.trade
    copy = trade.copy
    position = run.position or FollowerPosition(copy=copy, symbol=trade.symbol)
    copy_was = [copy.realized_pnl, copy.copy_capital, copy.peak_equity]
    position_was = [position.quantity, position.average_entry, position.realized_pnl]
    _fill_apply(trade, copy, position, fill=fill, result=result, market=market, rate=rate, now=now, acknowledged_at=acknowledged_at)
    return statements.fill_write_at_once(trade, copy, position, token=token, copy_was=copy_was, position_was=position_was)


def _refused(trade: CopiedTrade, *, token: int | None, error: PermanentExchangeError) -> ExecutionOutcome:
    entry = trade.kind in (CopiedTrade.Kind.MIRROR, CopiedTrade.Kind.START_OPEN) and sizing.is_entry(trade.effect)
    if isinstance(error, BelowExchangeMinimumError):  # our own rules, before anything was sent
        return _finish(trade, token=token, status=CopiedTrade.Status.SKIPPED, reason=Reason.BELOW_EXCHANGE_MINIMUM, message=error.detail)
    if isinstance(error, InsufficientFundsError) and entry:
        return _finish(trade, token=token, status=CopiedTrade.Status.SKIPPED, reason=Reason.INSUFFICIENT_MARGIN, message=error.detail)
    if isinstance(error, InvalidCredentialsError):
        exchange_account_invalidate(account_id=trade.copy.exchange_account_id)
        return _finish(trade, token=token, status=CopiedTrade.Status.FAILED, reason=Reason.INVALID_CREDENTIALS, message=error.detail)
    # The exchange's own code when the table knows it, else the general one.
    reason = error.reason if error.reason in Reason.values else Reason.EXCHANGE_ERROR
    return _finish(trade, token=token, status=CopiedTrade.Status.FAILED, reason=reason, message=error.detail)


def _finish(
    trade: CopiedTrade, *, token: int | None, status: str, reason: str, message: str, detail: dict | None = None
) -> ExecutionOutcome:
    """Record a skip or failure: the code and the numbers its sentence needs on the row, the
    `message` (which may be the exchange's own text) in the log only."""
    now = timezone.now()
    trade.status, trade.reason, trade.reason_detail, trade.finished_at, trade.lease_expires_at = status, reason, detail or {}, now, None
    with transaction.atomic():
        changed = statements.outcome_write(trade, token=token)
        if changed:
            _notify_not_copied(trade, status=status)
    if changed:
        metrics.copied_trade_ended(trade, status=status)
        logger.info("copied trade %s %s: %s (%s)", trade.pk, status, reason, message)
    return ExecutionOutcome(status=status if changed else CopiedTrade.Status.EXECUTING, reason=reason)


# Outcomes the follower already knows of, or chose: a close of a position the copy never
# opened (its entry's skip was notified), rows of a copy the follower stopped, and entries
# in markets the copy's own list leaves out.
QUIET_REASONS = frozenset({Reason.NO_POSITION, Reason.COPY_STOPPED, Reason.SYMBOL_NOT_ALLOWED})


def _notify_not_copied(trade: CopiedTrade, *, status: str) -> None:
    """Tell the follower a copied trade was skipped or failed. One notification per leader
    trade per follower (their copies of it on several accounts add lines to it), so a
    follower is told once per trade, not once per row."""
    if status not in (CopiedTrade.Status.SKIPPED, CopiedTrade.Status.FAILED) or trade.reason in QUIET_REASONS:
        return
    if trade.reason == Reason.TOO_LATE:  # told in the copy's summary of late outcomes, not once per order
        copied_trade_late_notify(trade=trade, now=timezone.now(), skipped=True)
        return
    failed = status == CopiedTrade.Status.FAILED
    account = trade.copy.exchange_account
    if trade.leader_trade_id is not None:
        group_key = f"leader-trade:{trade.leader_trade_id}"
        what = f"its {trade.side} of {trade.symbol} (trade #{trade.sequence})"
    elif trade.kind == CopiedTrade.Kind.START_OPEN:
        group_key = f"copied-trade:{trade.pk}"
        what = f"the leader's open {trade.symbol} position, at your copy's start"
    else:
        group_key = f"copied-trade:{trade.pk}"
        what = f"the platform's {trade.side} of {trade.symbol} closing your copy ({trade.get_kind_display()})"
    notification_send_grouped(
        user=trade.copy.follower,
        kind=Notification.Kind.COPIED_TRADE_FAILED if failed else Notification.Kind.COPIED_TRADE_SKIPPED,
        group_key=group_key,
        title=f"Not copied: {what} of '{trade.strategy.name}'",
        line=f"{'Failed' if failed else 'Skipped'} on '{account.label}': {sentence(copied_trade_reason_text(trade))}",
        replace_kind=failed,
    )


def copied_trade_give_up(*, copied_trade_id: int, reason: str = Reason.EXCHANGE_UNAVAILABLE) -> bool:
    """The retry budget ran out on errors that mean nothing was sent: fail the row visibly.
    A row whose order may have been sent is left for the sweeper to reconcile instead."""
    with transaction.atomic():
        changed = statements.give_up(copied_trade_id, reason=reason, now=timezone.now())
        if changed:
            now = timezone.now()
            trade, _, _ = statements.load(copied_trade_id, token=None, now=now, lease_expires_at=_lease_expiry(now))
            _notify_not_copied(trade, status=CopiedTrade.Status.FAILED)
            metrics.copied_trade_ended(trade, status=CopiedTrade.Status.FAILED)
    return bool(changed)
