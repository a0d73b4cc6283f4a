"""Drift found and mended (issue 27): a periodic pass (beat, COPY_DRIFT_CHECK_SECONDS)
compares what each live copy records it holds with what its exchange account holds.

Several copies may share one exchange account, so the comparison is per account and asset:
the account's holding (spot: the base asset's free + used balance, so BTC/USDT and BTC/USDC
copies meet on BTC; a swap: the position in that market) against the sum of its live copies'
recorded positions in the markets of that asset. A difference within the tolerance
(COPY_DRIFT_TOLERANCE_PERCENT of the expected figure, or worth at most COPY_DRIFT_DUST_QUOTE)
is not drift. Beyond it the account was traded outside the copies (by hand, another app, a
position a stopped copy left): the difference is shared among the copies in proportion to
what each records (equally when none records anything), each copy's share is recorded as a
`PositionDrift`, its follower told once, and the copy's drift policy mends it:

- notify (default): nothing is traded; the row stays open until the figures agree again;
- resync: an order at market takes the account back to the copy's record, placed through
  the engine's exactly-once path as a copied trade of kind `resync` (its fill moves the
  account, not the copy's position or P&L); the row is resolved when a pass finds agreement;
- adopt: the copy's position becomes its share of what the account holds (resolved at once).

An asset with a copied trade in flight on the account, or one that finished since the pass
read the exchange, is left to the next pass: a fill between the two reads is not drift.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from copytrade.client_order_ids import resync_client_order_id
from copytrade.locks import copy_lock
from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade, PositionDrift, Strategy
from copytrade.reasons import drift_text, sentence
from copytrade.services import fanout
from core.models import Notification
from core.money import HUNDRED, ZERO, to_money
from core.notifications import notification_send
from exchanges.errors import ExchangeError
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount
from exchanges.types import MarketRules

logger = logging.getLogger(__name__)

_QUANTITY_STEP = Decimal(1).scaleb(-settings.QUANTITY_DECIMAL_PLACES)


@dataclass
class DriftOutcome:
    assets_checked: int = 0
    found: list[int] = field(default_factory=list)  # PositionDrift ids recorded by this pass
    resolved: int = 0
    left_for_later: int = 0  # assets in flight, or accounts the exchange did not answer for


@dataclass(frozen=True)
class _Member:
    """One copy's position in one market of the asset being compared."""

    position: FollowerPosition
    market: MarketRules


def copies_drift_check() -> DriftOutcome:
    """One pass over every live copy's recorded positions (those it ever traded)."""
    outcome = DriftOutcome()
    positions = (
        FollowerPosition.objects.filter(copy__status__in=Copy.LIVE_STATUSES)
        .select_related("copy__exchange_account")
        .order_by("copy__exchange_account_id", "symbol", "copy_id")
    )
    by_account: dict[int, list[FollowerPosition]] = defaultdict(list)
    for position in positions:
        by_account[position.copy.exchange_account_id].append(position)
    for positions_of_account in by_account.values():
        account = positions_of_account[0].copy.exchange_account
        if account.status != ExchangeAccount.Status.ACTIVE:
            continue
        try:
            gateway = gateway_for_account(account)
            assets: dict[str, list[_Member]] = defaultdict(list)
            for position in positions_of_account:
                market = gateway.market(position.symbol)
                assets[market.base if market.type == "spot" else market.symbol].append(_Member(position, market))
            for asset, members in assets.items():
                _asset_check(gateway, account=account, asset=asset, members=members, outcome=outcome)
        except ExchangeError as exc:
            outcome.left_for_later += 1
            logger.warning("exchange account %s: drift not checked (%s)", account.pk, exc.reason)
        except NotImplementedError as exc:  # a gateway that cannot tell (a market type it does not hold)
            outcome.left_for_later += 1
            logger.warning("exchange account %s: drift not checked (%s)", account.pk, exc)
    return outcome


def _asset_check(gateway, *, account: ExchangeAccount, asset: str, members: list[_Member], outcome: DriftOutcome) -> None:
    symbols = sorted({member.market.symbol for member in members} | {member.position.symbol for member in members})
    started = timezone.now()
    if _moving(account=account, symbols=symbols, since=started):
        outcome.left_for_later += 1
        return
    actual = gateway.holding(members[0].market.symbol)
    if _moving(account=account, symbols=symbols, since=started):
        outcome.left_for_later += 1
        return
    # Recorded after the exchange was read: any fill recorded between was in flight at the first look.
    recorded = {
        (position.copy_id, position.symbol): position
        for position in FollowerPosition.objects.filter(pk__in=[member.position.pk for member in members]).select_related(
            "copy__strategy", "copy__follower", "copy__exchange_account"
        )
    }
    members = [_Member(recorded[(m.position.copy_id, m.position.symbol)], m.market) for m in members]
    expected = sum((member.position.quantity for member in members), ZERO)
    difference = actual - expected
    outcome.assets_checked += 1
    pairs = [(member.position.copy_id, member.position.symbol) for member in members]
    price = None
    if difference != 0 and abs(difference) > abs(expected) * settings.COPY_DRIFT_TOLERANCE_PERCENT / HUNDRED:
        price = gateway.ticker_price(members[0].market.symbol)
        if abs(difference) * price * members[0].market.contract_size <= settings.COPY_DRIFT_DUST_QUOTE:
            price = None
    if price is None:  # within the tolerance: whatever was open is mended
        outcome.resolved += _resolve(pairs)
        return
    for member, share in zip(members, _shares(difference, members)):
        if share == 0:
            continue
        drift = _drift_record(member, share=share, account_recorded=expected, account_actual=actual, now=started)
        if drift is not None:
            outcome.found.append(drift.pk)
        open_drift = (
            PositionDrift.objects.filter(copy_id=member.position.copy_id, symbol=member.position.symbol, resolved_at__isnull=True)
            .select_related("copied_trade")
            .first()
        )
        if open_drift is not None and _to_mend(open_drift):
            _mend(open_drift, price=price)
    logger.warning("exchange account %s: %s held %s, its live copies recorded %s", account.pk, asset, actual, expected)


def _moving(*, account: ExchangeAccount, symbols: list[str], since) -> bool:
    """A copied trade of the account in these markets is open, or finished after `since`."""
    rows = CopiedTrade.objects.filter(copy__exchange_account_id=account.pk, symbol__in=symbols)
    return rows.filter(status__in=CopiedTrade.OPEN).exists() or rows.filter(finished_at__gte=since).exists()


def _shares(difference: Decimal, members: list[_Member]) -> list[Decimal]:
    """The difference split in proportion to what each copy records (equally when none
    records anything); the last takes the remainder, so the shares sum to the difference."""
    weights = [abs(member.position.quantity) for member in members]
    total = sum(weights, ZERO)
    if total == 0:
        weights, total = [Decimal(1)] * len(members), Decimal(len(members))
    shares = [(difference * weight / total).quantize(_QUANTITY_STEP) for weight in weights[:-1]]
    return [*shares, difference - sum(shares, ZERO)]


def _resolve(pairs: list[tuple[int, str]]) -> int:
    resolved = 0
    now = timezone.now()
    for copy_id, symbol in pairs:
        resolved += PositionDrift.objects.filter(copy_id=copy_id, symbol=symbol, resolved_at__isnull=True).update(resolved_at=now)
    return resolved


def _drift_record(member: _Member, *, share: Decimal, account_recorded: Decimal, account_actual: Decimal, now) -> PositionDrift | None:
    """Record the copy's share of the account's difference: a new row (and its follower told)
    when none is open for the copy and symbol, else the open row's figures brought up to
    date (None: told already)."""
    position = member.position
    figures = {
        "recorded": position.quantity,
        "actual": position.quantity + share,
        "difference": share,
        "account_recorded": account_recorded,
        "account_actual": account_actual,
    }
    with transaction.atomic():
        updated = PositionDrift.objects.filter(copy_id=position.copy_id, symbol=position.symbol, resolved_at__isnull=True).update(**figures)
        if updated:
            return None
        drift = PositionDrift.objects.create(
            copy=position.copy, symbol=position.symbol, found_at=now, action=PositionDrift.Action.NOTIFIED, **figures
        )
        copy = position.copy
        notification_send(
            user=copy.follower,
            kind=Notification.Kind.COPY_DRIFT,
            title=f"Your copy of '{copy.strategy.name}' holds a different {position.symbol} position from your account",
            body=f"{sentence(drift_text(drift))} {_policy_sentence(copy)}",
        )
    return drift


def _policy_sentence(copy: Copy) -> str:
    policy = Copy.DriftPolicy(copy.drift_policy)
    if policy == Copy.DriftPolicy.RESYNC:
        return "As your copy's drift policy says, an order at market takes the account back to the copy's recorded position."
    if policy == Copy.DriftPolicy.ADOPT:
        return "As your copy's drift policy says, the copy takes the account's figure as its position."
    return "Nothing was traded (your copy's drift policy: tell me only); set the policy on the copy's page to resync or adopt."


def _to_mend(drift: PositionDrift) -> bool:
    """An open drift only told so far, or one whose resync filled and the account moved again
    since (a resync that was skipped or failed is not tried again: its outcome says why)."""
    if drift.action == PositionDrift.Action.NOTIFIED:
        return True
    resync = drift.copied_trade
    return drift.action == PositionDrift.Action.RESYNCED and resync is not None and resync.status == CopiedTrade.Status.FILLED


def _mend(drift: PositionDrift, *, price: Decimal) -> None:
    """Apply the copy's drift policy to an open drift (`_to_mend`)."""
    with transaction.atomic():
        copy = copy_lock(copy_id=drift.copy_id)
        if copy is None or copy.status not in Copy.LIVE_STATUSES:
            return
        if copy.drift_policy == Copy.DriftPolicy.NOTIFY:
            return
        drift = PositionDrift.objects.select_for_update(of=("self",)).select_related("copied_trade").get(pk=drift.pk)
        if not _to_mend(drift):
            return
        position = FollowerPosition.objects.filter(copy=copy, symbol=drift.symbol).first()
        busy = CopiedTrade.objects.filter(copy=copy, symbol=drift.symbol, status__in=CopiedTrade.OPEN).exists()
        if drift.resolved_at is not None or position is None or position.quantity != drift.recorded or busy:
            return  # moved since the pass read it: the next pass looks again
        if copy.drift_policy == Copy.DriftPolicy.ADOPT:
            _adopt(drift, position=position, price=price)
        else:
            _resync(drift, copy=copy)


def _adopt(drift: PositionDrift, *, position: FollowerPosition, price: Decimal) -> None:
    """The copy's position becomes its share of the account's holding; what it gained is
    entered at the current price (the price it was bought at is not the copy's to know)."""
    held, wanted = position.quantity, drift.actual
    if wanted == 0:
        position.average_entry = ZERO
    elif held == 0 or (held > 0) != (wanted > 0):
        position.average_entry = to_money(price)
    elif abs(wanted) > abs(held):
        position.average_entry = to_money((abs(held) * position.average_entry + (abs(wanted) - abs(held)) * price) / abs(wanted))
    position.quantity = wanted
    position.save(update_fields=["quantity", "average_entry", "updated_at"])
    drift.action, drift.resolved_at = PositionDrift.Action.ADOPTED, timezone.now()
    drift.save(update_fields=["action", "resolved_at"])
    logger.info("copy %s adopted the account's %s %s (was %s)", drift.copy_id, drift.symbol, wanted, held)


def _resync(drift: PositionDrift, *, copy: Copy) -> None:
    """A copied trade of kind resync for the difference, on the copy's next sequence number
    (reserved on the strategy's counter, as platform closes are), enqueued on commit."""
    strategy = copy.strategy
    latest = CopiedTrade.objects.filter(copy=copy).aggregate(latest=Max("sequence"))["latest"] or 0
    last_sequence = Strategy.objects.filter(pk=strategy.pk).values_list("last_sequence", flat=True).get()
    sequence = max(last_sequence, latest) + 1
    Strategy.objects.filter(pk=strategy.pk).update(last_sequence=sequence)
    excess = drift.difference > 0  # the account holds more than the copy records: sell the excess
    trade = CopiedTrade.objects.create(
        copy=copy,
        kind=CopiedTrade.Kind.RESYNC,
        sequence=sequence,
        follower_id=copy.follower_id,
        leader_user_id=strategy.owner_id,
        strategy=strategy,
        symbol=drift.symbol,
        side="sell" if excess else "buy",
        effect=_resync_effect(drift),
        requested_amount=abs(drift.difference),
        client_order_id=resync_client_order_id(copy_id=copy.pk, sequence=sequence),
        enqueued_at=timezone.now(),
    )
    drift.action, drift.copied_trade = PositionDrift.Action.RESYNCED, trade
    drift.save(update_fields=["action", "copied_trade"])
    transaction.on_commit(lambda: fanout.copied_trades_enqueue([trade.pk]))
    logger.info("copy %s: resync of %s %s placed (copied trade %s)", copy.pk, trade.side, trade.requested_amount, trade.pk)


def _resync_effect(drift: PositionDrift) -> str:
    """Towards the recorded position from the account's: smaller in size is a reduction
    (reduce-only on a swap), larger an increase."""
    return LeaderTrade.Effect.REDUCE if abs(drift.recorded) < abs(drift.actual) else LeaderTrade.Effect.INCREASE
