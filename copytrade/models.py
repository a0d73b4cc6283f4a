"""Copy-trading domain: strategies (leaders), leader trades, copies, copied trades, positions.

Seed 000's schema (`ai_strategies`, `copy_relationships`, `copied_trades`) refined as in
ARCHITECTURE.md: per-copy sizing modes, signed leader positions, exactly-once
execution state on each copied trade, and a position per (copy, symbol).
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.money import format_quantity, money_field, quantity_field
from core.names import validate_printable_name
from exchanges.models import MarginMode

PERCENT = {"max_digits": 7, "decimal_places": 4}


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Strategy(models.Model):
    """A leader: an AI strategy or a human provider's strategy (seed `ai_strategies`)."""

    class Kind(models.TextChoices):
        AI = "ai"
        MANUAL = "manual"

    class Source(models.TextChoices):
        WEBHOOK = "webhook"
        API = "api"
        EXCHANGE_SYNC = "exchange_sync"

    class Status(models.TextChoices):
        RUNNING = "running"
        PAUSED = "paused"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="strategies")
    name = models.CharField(max_length=100, validators=[validate_printable_name])
    description = models.TextField(blank=True, default="", max_length=5000)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    leader_account = models.ForeignKey(
        "exchanges.ExchangeAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="led_strategies"
    )
    # A signal-only strategy (no linked account) declares the capital its sizes refer to.
    declared_capital = money_field(null=True, blank=True)
    quote_currency = models.CharField(max_length=10, default="USDT")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEBHOOK)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    is_public_leader = models.BooleanField(default=False)
    copy_override_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=15, validators=[MinValueValidator(0), MaxValueValidator(30)]
    )
    verified_badge = models.BooleanField(default=False)
    # Set by circuit breakers: an open breaker refuses new copies and new entries.
    accepting_copies = models.BooleanField(default=True)
    copiers_count = models.PositiveIntegerField(default=0)
    webhook_secret = models.CharField(max_length=64, default=new_webhook_secret)
    # Highest exchange trade timestamp seen by exchange sync (ms since epoch).
    sync_cursor_ms = models.BigIntegerField(null=True, blank=True)
    last_sequence = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "strategies"
        constraints = [
            models.CheckConstraint(
                condition=Q(copy_override_percent__gte=0) & Q(copy_override_percent__lte=30),
                name="strategy_override_0_30",
            ),
            models.CheckConstraint(
                condition=Q(declared_capital__isnull=True) | Q(declared_capital__gt=0), name="strategy_capital_positive"
            ),
            models.CheckConstraint(condition=Q(status__in=["running", "paused"]), name="strategy_status_valid"),
            models.CheckConstraint(condition=Q(kind__in=["ai", "manual"]), name="strategy_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class LeaderTrade(models.Model):
    """One leader fill. Idempotent per strategy by `external_id` (webhook id / exchange trade id)."""

    class Side(models.TextChoices):
        BUY = "buy"
        SELL = "sell"

    class Effect(models.TextChoices):
        OPEN = "open"
        INCREASE = "increase"
        REDUCE = "reduce"
        CLOSE = "close"

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="trades")
    external_id = models.CharField(max_length=100)
    sequence = models.PositiveBigIntegerField()
    symbol = models.CharField(max_length=50)
    side = models.CharField(max_length=4, choices=Side.choices)
    amount = quantity_field()
    price = money_field()
    # What a signal-only leader said the price was; `price` is the market's when the signal
    # arrived, and only it enters P&L, metrics and verification.
    declared_price = money_field(null=True, blank=True)
    notional = money_field()
    # Perpetuals: the leverage the leader traded at, when the signal or the exchange says.
    leverage = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(125)])
    fee = money_field(default=0)
    leader_equity = money_field()
    effect = models.CharField(max_length=10, choices=Effect.choices)
    # Fraction of the leader's position this trade removes (reduce: 0 < f < 1; close: 1).
    reduce_fraction = models.DecimalField(max_digits=20, decimal_places=18, null=True, blank=True)
    # Signed leader position in `symbol` after this trade (long > 0, short < 0).
    position_after = quantity_field()
    realized_pnl = money_field(default=0)
    source = models.CharField(max_length=16, choices=Strategy.Source.choices)
    exchange_order_id = models.CharField(max_length=100, blank=True, default="")
    traded_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    fanout_enqueued_at = models.DateTimeField(null=True, blank=True)
    fanout_done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["strategy_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "external_id"], name="leader_trade_idempotent"),
            models.UniqueConstraint(fields=["strategy", "sequence"], name="leader_trade_sequence_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="leader_trade_amount_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="leader_trade_price_positive"),
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="leader_trade_side_valid"),
            models.CheckConstraint(condition=Q(effect__in=["open", "increase", "reduce", "close"]), name="leader_trade_effect_valid"),
            models.CheckConstraint(condition=Q(source__in=["webhook", "api", "exchange_sync"]), name="leader_trade_source_valid"),
            models.CheckConstraint(
                condition=Q(reduce_fraction__isnull=True) | (Q(reduce_fraction__gt=0) & Q(reduce_fraction__lte=1)),
                name="leader_trade_fraction_0_1",
            ),
        ]
        indexes = [models.Index(fields=["strategy", "traded_at"], name="leader_trade_by_time")]

    def __str__(self) -> str:
        return (
            f"{self.strategy} #{self.sequence} · {self.side} {format_quantity(self.amount)} {self.symbol} "
            f"at {format_quantity(self.price)} · {self.effect}"
        )


class LeaderPosition(models.Model):
    """The leader's signed position per symbol, maintained as trades are recorded."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=50)
    quantity = quantity_field(default=0)
    average_entry = money_field(default=0)
    realized_pnl = money_field(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["strategy", "symbol"], name="leader_position_unique")]

    def __str__(self) -> str:
        return f"{self.strategy} · {self.symbol} {format_quantity(self.quantity)}"


class Copy(models.Model):
    """A follower copying a strategy onto one of their exchange accounts (seed `copy_relationships`)."""

    class SizingMode(models.TextChoices):
        PROPORTIONAL = "proportional"
        MULTIPLIER = "multiplier"
        FIXED = "fixed"

    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        STOPPED = "stopped"

    class LeveragePolicy(models.TextChoices):
        """Perpetuals: the leverage this copy's positions are opened at."""

        FOLLOW = "follow", "Follow the leader's leverage"
        FIXED = "fixed", "Always the leverage you set"
        CAP = "cap", "The leader's leverage, at most the leverage you set"

    class PauseReason(models.TextChoices):
        """Why a copy is paused: the code is stored, the label is what its follower reads
        (`copytrade.reasons.pause_reason_text` adds the numbers kept in `pause_detail`)."""

        FOLLOWER = "follower", "you paused it"
        INVALID_CREDENTIALS = (
            "invalid_credentials",
            ("the exchange refused the account's API key: reconnect the account with a key that may trade, then resume"),
        )
        KEY_CAN_WITHDRAW = (
            "key_can_withdraw",
            ("the exchange says the account's API key may withdraw funds: reconnect the account with a trade-only key, then resume"),
        )
        STOP_LOSS = "stop_loss", "its stop-loss closed its positions at market"
        PROVIDER_SUSPENDED = "provider_suspended", "the curators suspended the leader's signal provider"

    class DriftPolicy(models.TextChoices):
        """What the periodic drift pass does when the copy's recorded position and its exchange
        account's holding differ (copytrade/services/drift.py); the label is the follower's."""

        NOTIFY = "notify", "tell me only"
        RESYNC = "resync", "trade the account back to the copy's recorded position at market"
        ADOPT = "adopt", "take the exchange's figure as the copy's position"

    class SymbolListMode(models.TextChoices):
        """Which of the leader's markets the copy follows (`symbol_list`: unified ccxt symbols)."""

        ALL = "", "every market the leader trades"
        ALLOW = "allow", "only the markets on your list"
        DENY = "deny", "every market except those on your list"

    LIVE_STATUSES = (Status.ACTIVE, Status.PAUSED)
    MAX_SYMBOLS = 100

    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="copies")
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="copies")
    exchange_account = models.ForeignKey("exchanges.ExchangeAccount", on_delete=models.PROTECT, related_name="copies")
    sizing_mode = models.CharField(max_length=16, choices=SizingMode.choices, default=SizingMode.PROPORTIONAL)
    allocation_percent = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    multiplier = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    fixed_notional = money_field(null=True, blank=True)
    # Proportional mode: allocation % × follower equity at start, then moves with the copy's P&L.
    copy_capital = money_field(default=0)
    max_drawdown_stop = models.DecimalField(max_digits=5, decimal_places=2, default=30)
    max_slippage_percent = models.DecimalField(max_digits=5, decimal_places=2, default=1)
    max_order_notional = money_field(null=True, blank=True)
    # Opt-in: round an order under the exchange minimum up to the minimum instead of skipping.
    round_up_to_minimum = models.BooleanField(default=False)
    drift_policy = models.CharField(max_length=16, choices=DriftPolicy.choices, default=DriftPolicy.NOTIFY)
    # Perpetuals (copytrade/perpetuals.py): the leverage policy and its N, and the margin mode.
    leverage_policy = models.CharField(max_length=10, choices=LeveragePolicy.choices, default=LeveragePolicy.FOLLOW)
    leverage = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(125)])
    margin_mode = models.CharField(max_length=10, choices=MarginMode.choices, default=MarginMode.CROSS)
    # Entries in markets the list leaves out are skipped (symbol_not_allowed); exits of what
    # the copy holds are always mirrored, whatever the list says now.
    symbol_list_mode = models.CharField(max_length=8, choices=SymbolListMode.choices, blank=True, default=SymbolListMode.ALL)
    symbol_list = models.JSONField(default=list, blank=True)
    # Per position, from the copy's own average entry: the mark-to-market pass closes a
    # position at market once its price is this far in its favour, or against it.
    take_profit_percent = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    stop_loss_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # Entries past these are skipped (max_open_positions, max_exposure); exits never are.
    max_open_positions = models.PositiveIntegerField(null=True, blank=True)
    max_exposure = money_field(null=True, blank=True)
    # Chosen at start: open the leader's positions already open (only where the price is not
    # worse than the leader's entry by more than the slippage limit).
    open_positions_at_start = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    pause_reason = models.CharField(max_length=255, choices=PauseReason.choices, blank=True, default="")
    # The numbers the pause's sentence needs (stop-loss: drawdown and limit, in percent).
    pause_detail = models.JSONField(default=dict, blank=True)
    realized_pnl = money_field(default=0)
    copy_equity = money_field(default=0)
    peak_equity = money_field(default=0)
    current_drawdown_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "copies"
        constraints = [
            # One live copy per (follower, strategy); stopped ones stay as history.
            models.UniqueConstraint(
                fields=["follower", "strategy"],
                condition=Q(status__in=["active", "paused"]),
                name="copy_one_live_per_follower_strategy",
            ),
            models.CheckConstraint(condition=Q(status__in=["active", "paused", "stopped"]), name="copy_status_valid"),
            models.CheckConstraint(condition=Q(symbol_list_mode__in=["", "allow", "deny"]), name="copy_symbol_list_mode_valid"),
            models.CheckConstraint(
                condition=Q(take_profit_percent__isnull=True) | (Q(take_profit_percent__gt=0) & Q(take_profit_percent__lte=10000)),
                name="copy_take_profit_positive",
            ),
            models.CheckConstraint(
                condition=Q(stop_loss_percent__isnull=True) | (Q(stop_loss_percent__gt=0) & Q(stop_loss_percent__lt=100)),
                name="copy_position_stop_loss_0_100",
            ),
            models.CheckConstraint(
                condition=Q(max_open_positions__isnull=True) | Q(max_open_positions__gte=1), name="copy_max_open_positions_positive"
            ),
            models.CheckConstraint(condition=Q(max_exposure__isnull=True) | Q(max_exposure__gt=0), name="copy_max_exposure_positive"),
            models.CheckConstraint(
                condition=Q(allocation_percent__isnull=True) | (Q(allocation_percent__gt=0) & Q(allocation_percent__lte=100)),
                name="copy_allocation_0_100",
            ),
            models.CheckConstraint(condition=Q(multiplier__isnull=True) | Q(multiplier__gt=0), name="copy_multiplier_positive"),
            models.CheckConstraint(condition=Q(fixed_notional__isnull=True) | Q(fixed_notional__gt=0), name="copy_fixed_positive"),
            models.CheckConstraint(
                condition=Q(max_order_notional__isnull=True) | Q(max_order_notional__gt=0), name="copy_max_order_positive"
            ),
            models.CheckConstraint(condition=Q(max_drawdown_stop__gt=0) & Q(max_drawdown_stop__lte=100), name="copy_drawdown_stop_0_100"),
            models.CheckConstraint(condition=Q(max_slippage_percent__gte=0) & Q(max_slippage_percent__lte=50), name="copy_slippage_0_50"),
            models.CheckConstraint(condition=Q(drift_policy__in=["notify", "resync", "adopt"]), name="copy_drift_policy_valid"),
            models.CheckConstraint(
                condition=Q(leverage_policy="follow") | (Q(leverage__gte=1) & Q(leverage__lte=125)),
                name="copy_leverage_set_for_fixed_or_cap",
            ),
            models.CheckConstraint(condition=Q(margin_mode__in=["isolated", "cross"]), name="copy_margin_mode_valid"),
            models.CheckConstraint(
                condition=(Q(sizing_mode="proportional") & Q(allocation_percent__isnull=False))
                | (Q(sizing_mode="multiplier") & Q(multiplier__isnull=False))
                | (Q(sizing_mode="fixed") & Q(fixed_notional__isnull=False)),
                name="copy_sizing_parameter_present",
            ),
        ]
        indexes = [models.Index(fields=["strategy", "status"], name="copy_by_strategy_status")]

    def __str__(self) -> str:
        return f"{self.follower} copies {self.strategy} · {self.status}"


class CopiedTrade(models.Model):
    """One leader trade mirrored for one copy (seed `copied_trades` + execution state).

    Every row ends filled, partially_filled, skipped(reason) or failed(reason).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        EXECUTING = "executing"
        FILLED = "filled"
        PARTIALLY_FILLED = "partially_filled"
        SKIPPED = "skipped"
        FAILED = "failed"

    class Kind(models.TextChoices):
        MIRROR = "mirror", "a copy of the leader's trade"
        STOP_LOSS = "stop_loss", "closed by your copy stop-loss"
        CLOSE_ON_STOP = "close_on_stop", "closed when you stopped the copy"  # stopped with close_positions
        # The drift pass trading the account back to the copy's recorded position (drift policy resync).
        RESYNC = "resync", "traded back to your copy's recorded position"
        START_OPEN = "start_open", "opened when the copy started, as the leader's position then"
        TAKE_PROFIT = "take_profit", "closed by your take-profit on this position"
        POSITION_STOP = "position_stop", "closed by your stop-loss on this position"

    class Reason(models.TextChoices):
        """Why a copied trade was skipped or failed, or what changed a filled one: the code
        is stored, the label is what its follower reads (`copytrade.reasons` adds the
        numbers kept in `reason_detail` and on the row). The exchange's codes are those of
        `exchanges.errors`."""

        # Skipped: nothing was sent.
        COPY_PAUSED = "copy_paused", "the copy was paused, and a paused copy opens no new positions"
        COPY_STOPPED = "copy_stopped", "the copy was stopped"
        STRATEGY_NOT_ACCEPTING = "strategy_not_accepting_entries", "the leader's strategy was not taking new entries"
        MARKET_NOT_LISTED = "market_not_listed", "your exchange does not list the leader's market"
        SLIPPAGE_EXCEEDED = "slippage_exceeded", ("the price had moved further from the leader's price than your slippage limit allows")
        INSUFFICIENT_MARGIN = "insufficient_margin", "your account did not have enough free balance for the order"
        LEVERAGE_NOT_SET = (
            "leverage_not_set",
            "the exchange refused the copy's leverage or margin mode on this market (a position opened otherwise may be open there)",
        )
        BELOW_EXCHANGE_MINIMUM = "below_exchange_minimum", "your share was below the exchange's minimum order"
        NO_POSITION = "no_position", "the copy held no position to reduce or close"
        TOO_LATE = (
            "too_late",
            "it was too late: the leader's trade was longer ago than the platform still copies an entry after",
        )
        SYMBOL_NOT_ALLOWED = "symbol_not_allowed", "your copy's list of markets leaves this market out"
        START_PRICE_WORSE = (
            "start_price_worse",
            "the price was worse than the leader's entry by more than your slippage limit; the copy follows this market "
            "from the leader's next trade",
        )
        MAX_OPEN_POSITIONS = "max_open_positions", "your copy already held as many open positions as you allow"
        MAX_EXPOSURE = "max_exposure", "the order would have taken your copy's open positions past the total you allow"
        QUOTE_NOT_CONVERTIBLE = (
            "quote_not_convertible",
            ("its profit and loss would be in a currency this platform cannot convert to bill it; no order was placed"),
        )
        # Failed.
        ACCOUNT_INVALID = "account_invalid", "the exchange account needs a new API key"
        INVALID_CREDENTIALS = (
            "invalid_credentials",
            ("the exchange refused the account's API key: check key, secret and trading permission"),
        )
        NOT_FILLED = "not_filled", "the exchange did not fill the order"
        EXCHANGE_UNAVAILABLE = "exchange_unavailable", "the exchange did not answer after several attempts; no order was placed"
        RATE_LIMITED = "rate_limited", "the exchange kept asking for fewer requests; no order was placed"
        UNKNOWN_OUTCOME = "unknown_outcome", "the exchange never confirmed the order"
        INSUFFICIENT_FUNDS = "insufficient_funds", "the exchange said the account's free balance was too low for the order"
        ORDER_REJECTED = "order_rejected", "the exchange refused the order: its size or price was outside the market's limits"
        DUPLICATE_ORDER = "duplicate_client_order_id", "the exchange already had this order"
        ORDER_NOT_FOUND = "order_not_found", "the exchange had no record of the order"
        UNKNOWN_SYMBOL = "unknown_symbol", "the exchange does not list this market"
        UNKNOWN_EXCHANGE = "unknown_exchange", "the account's exchange is not one the platform trades on"
        REJECTED = "rejected", "the exchange refused the order"
        EXCHANGE_ERROR = "exchange_error", "the exchange answered with an error"
        # A filled row's note.
        ROUNDED_UP_TO_MINIMUM = "rounded_up_to_minimum", "rounded up to the exchange's minimum order, as you allowed"
        CLAMPED_TO_MAX_ORDER_NOTIONAL = "clamped_to_max_order_notional", "made smaller to your largest-order limit"
        CLAMPED_TO_MULTIPLIER_CAP = "clamped_to_multiplier_cap", "made smaller to the platform's largest order for a multiplier copy"
        PARTIAL_FILL = "partial_fill", "the exchange filled part of the order"

    TERMINAL = (Status.FILLED, Status.PARTIALLY_FILLED, Status.SKIPPED, Status.FAILED)
    OPEN = (Status.PENDING, Status.EXECUTING)

    # No single-column indexes on copy and follower: (copy, sequence) and
    # (follower, -recorded_at) serve those lookups, and every index costs each of the two
    # status updates per copied trade (bench/RESULTS.md).
    copy = models.ForeignKey(Copy, on_delete=models.CASCADE, related_name="copied_trades", db_index=False)
    # Null for orders the platform itself initiates (stop-loss, stop with close_positions, resync).
    # Indexed with the fan-out place, not alone (copied_trade_by_fanout_place).
    leader_trade = models.ForeignKey(
        LeaderTrade, null=True, blank=True, on_delete=models.PROTECT, related_name="copied_trades", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MIRROR)
    # Per-copy execution order: the leader trade's sequence (platform closes get the
    # next free number after the copy's latest row).
    sequence = models.PositiveBigIntegerField()
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="copied_trades", db_index=False)
    leader_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="led_copied_trades")
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="copied_trades")
    symbol = models.CharField(max_length=50)
    side = models.CharField(max_length=4, choices=LeaderTrade.Side.choices)
    effect = models.CharField(max_length=10, choices=LeaderTrade.Effect.choices)
    leader_size_quote = money_field(default=0)
    follower_size_quote = money_field(default=0)
    requested_amount = quantity_field(null=True, blank=True)
    filled_amount = quantity_field(default=0)
    average_price = money_field(null=True, blank=True)
    fee = money_field(default=0)
    # Realised net P&L of the fill in the market's quote currency (copytrade/positions.py) ...
    quote_currency = models.CharField(max_length=10, blank=True, default="")
    pnl_quote = money_field(default=0)
    # ... the billing currency per unit of that quote at the fill (copytrade/currency.py;
    # null: nothing to convert, or the exchange could not price the quote) ...
    quote_rate = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    # ... and the same P&L in the billing currency (settings.BILLING_CURRENCY): what billing sums.
    pnl_billing = money_field(default=0)
    override_fee_charged = money_field(default=0)
    fee_paid_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=255, choices=Reason.choices, blank=True, default="")
    # The numbers the reason's sentence needs beyond the row's own columns (slippage: the
    # price gap, the price then and the copy's limit).
    reason_detail = models.JSONField(default=dict, blank=True)
    # Deterministic from (leader trade, copy): the same order can never be placed twice.
    # Unique by a constraint, not unique=True: that also builds a LIKE index nothing uses.
    client_order_id = models.CharField(max_length=36)
    exchange_order_id = models.CharField(max_length=100, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    # Lease: a crashed worker's claim expires and the sweeper or a redelivery may take over.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Copy quality (copytrade/quality.py), a mirror's fill only; null for platform closes and
    # rows never filled. Delay: the leader trade's `traded_at` (its fill, or the signal's
    # arrival for a signal-only leader) to the exchange's acknowledgement of this order (the
    # exchange's own timestamp in its answer; the platform's clock when the answer carries
    # none), in milliseconds. Price gap: this fill's average price against the leader's, in
    # basis points, positive when worse for the follower (a buy higher, a sell lower).
    delay_ms = models.BigIntegerField(null=True, blank=True)
    price_gap_bps = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # 1 for the first order of the leader trade's fan-out (after its fair shuffle), and so on.
    fanout_place = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["copy_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["copy", "leader_trade"],
                condition=Q(leader_trade__isnull=False),
                name="copied_trade_once_per_pair",
            ),
            models.UniqueConstraint(fields=["copy", "sequence"], name="copied_trade_sequence_unique"),
            models.UniqueConstraint(fields=["client_order_id"], name="copied_trade_client_order_id_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "executing", "filled", "partially_filled", "skipped", "failed"]),
                name="copied_trade_status_valid",
            ),
            models.CheckConstraint(condition=Q(filled_amount__gte=0), name="copied_trade_filled_nonnegative"),
            models.CheckConstraint(
                condition=Q(requested_amount__isnull=True) | Q(requested_amount__gt=0), name="copied_trade_requested_positive"
            ),
            models.CheckConstraint(condition=Q(average_price__isnull=True) | Q(average_price__gt=0), name="copied_trade_price_positive"),
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="copied_trade_side_valid"),
            models.CheckConstraint(condition=Q(effect__in=["open", "increase", "reduce", "close"]), name="copied_trade_effect_valid"),
            models.CheckConstraint(
                condition=Q(kind__in=["mirror", "stop_loss", "close_on_stop", "resync", "take_profit", "position_stop", "start_open"]),
                name="copied_trade_kind_valid",
            ),
            models.CheckConstraint(condition=Q(override_fee_charged__gte=0), name="copied_trade_fee_nonnegative"),
        ]
        indexes = [
            # The sweeper scans non-terminal rows only.
            # The open rows by copy and sequence: what an execution asks of every earlier row of
            # its copy ("is one still open?"), the sweeper's scan (copy, sequence order) and the
            # fan-out's in-flight check. Small whatever the history: a copy with thousands of
            # fills has at most a few open rows. (It replaced an index on (status, recorded_at),
            # which the planner combined with the per-copy lookup and which, after a burst of
            # fills, scanned tens of thousands of dead entries per execution.)
            models.Index(
                fields=["copy", "sequence"],
                condition=Q(status__in=["pending", "executing"]),
                name="copied_trade_open_by_copy",
            ),
            models.Index(fields=["follower", "-recorded_at"], name="copied_trade_by_follower"),
            # A leader trade's rows, and a range of their fan-out places: each link of a fan-out
            # (copytrade/services/fanout.py) reads its chunk of places. On the leader trade
            # alone, every link read all the trade's rows (3,000 for 50: half its time). In
            # place of that index: the same number for each write to pay.
            models.Index(fields=["leader_trade", "fanout_place"], name="copied_trade_by_fanout_place"),
        ]

    def __str__(self) -> str:
        outcome = f"{self.status} ({self.reason})" if self.reason else self.status
        amount = format_quantity(self.filled_amount or self.requested_amount)
        return f"{self.follower} · {self.strategy} #{self.sequence} · {self.side} {amount} {self.symbol} · {outcome}"


class FollowerPosition(models.Model):
    """What a copy holds per symbol (signed quantity), its average entry and realised P&L."""

    copy = models.ForeignKey(Copy, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=50)
    quantity = quantity_field(default=0)
    average_entry = money_field(default=0)
    realized_pnl = money_field(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["copy", "symbol"], name="follower_position_unique")]

    def __str__(self) -> str:
        return f"{self.copy} · {self.symbol} {format_quantity(self.quantity)}"


class PositionDrift(models.Model):
    """A copy's recorded position in a symbol found to differ from what its exchange account
    holds (copytrade/services/drift.py). Several copies on one account share the account's
    difference in proportion to what they record; each copy's share is its row. Open until a
    pass finds the copy and the account agreeing again (or the policy adopted the figure)."""

    class Action(models.TextChoices):
        NOTIFIED = "notified", "you were told; nothing was traded"
        RESYNCED = "resynced", "an order at market traded the account back to the copy's recorded position"
        ADOPTED = "adopted", "the copy took the exchange's figure as its position"

    copy = models.ForeignKey(Copy, on_delete=models.CASCADE, related_name="drifts")
    symbol = models.CharField(max_length=50)
    # The copy's recorded position, its share of what the account holds, and the difference
    # (actual − recorded: > 0 the account holds more than the copy recorded).
    recorded = quantity_field()
    actual = quantity_field()
    difference = quantity_field()
    # The whole account's figures for the market's asset (all its live copies together).
    account_recorded = quantity_field()
    account_actual = quantity_field()
    found_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    # The resync's order (drift policy resync).
    copied_trade = models.ForeignKey(CopiedTrade, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-found_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["copy", "symbol"], condition=Q(resolved_at__isnull=True), name="position_drift_one_open_per_symbol"
            ),
            models.CheckConstraint(condition=Q(action__in=["notified", "resynced", "adopted"]), name="position_drift_action_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.copy} · {self.symbol} drift {format_quantity(self.difference)}"


class FundingPayment(models.Model):
    """A perpetual's funding settlement on a copy's position: received (> 0) or paid (< 0).
    Read from the exchange per account and symbol (copytrade/services/funding.py) and shared
    among the account's copies holding the symbol by their size; it is part of the copy's
    realised P&L, so of its fees, like a fill's."""

    copy = models.ForeignKey(Copy, on_delete=models.CASCADE, related_name="funding_payments")
    symbol = models.CharField(max_length=50)
    # The exchange's id of the settlement on the account: a payment is recorded once.
    exchange_payment_id = models.CharField(max_length=100)
    amount_quote = money_field()
    quote_currency = models.CharField(max_length=10)
    quote_rate = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    amount_billing = money_field(default=0)
    paid_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    # The month whose fee assessment counted it (billing sets it): billed once.
    billed_period = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["copy_id", "paid_at"]
        constraints = [
            models.UniqueConstraint(fields=["copy", "symbol", "exchange_payment_id"], name="funding_payment_once"),
        ]
        indexes = [models.Index(fields=["copy", "paid_at"], name="funding_by_copy_time")]

    def __str__(self) -> str:
        return f"{self.copy} · funding {self.symbol} {self.amount_quote} {self.quote_currency}"
