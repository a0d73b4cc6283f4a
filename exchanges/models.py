from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.money import format_quantity, quantity_field
from core.names import validate_printable_name
from exchanges.crypto import EncryptedTextField

PAPER = "paper"


def validate_exchange_id(value: str) -> None:
    """Only the exchanges the platform is set up for (settings.SUPPORTED_EXCHANGE_IDS), or
    paper: any other ccxt exchange would be traded with untested rules and default limits."""
    if value != PAPER and value not in settings.SUPPORTED_EXCHANGE_IDS:
        raise ValidationError(f"Unsupported exchange '{value[:32]}'. Use 'paper' or one of: {', '.join(settings.SUPPORTED_EXCHANGE_IDS)}.")


class ConnectableExchange(models.TextChoices):
    """The exchanges offered when connecting an account on the pages: those with order rate
    limits of their own (settings.EXCHANGE_RATE_LIMITS). The API takes any ccxt id."""

    BINANCE = "binance", "Binance"
    BYBIT = "bybit", "Bybit"
    OKX = "okx", "OKX"


class ExchangeAccount(models.Model):
    """A user's account on one exchange (or a paper account priced from live markets)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        INVALID = "invalid"

    class StatusReason(models.TextChoices):
        """Why an account is invalid: the code is stored, the label is what its owner reads."""

        INVALID_CREDENTIALS = (
            "invalid_credentials",
            ("the exchange refused this API key: check key, secret and trading permission, then reconnect the account"),
        )
        CAN_WITHDRAW = (
            "can_withdraw",
            (
                "the exchange says this API key may withdraw funds: the platform never needs that, so it no longer trades "
                "with it; reconnect the account with a trade-only key"
            ),
        )

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_accounts")
    exchange_id = models.CharField(max_length=32, validators=[validate_exchange_id])
    label = models.CharField(max_length=100, validators=[validate_printable_name])
    api_key = EncryptedTextField(blank=True, default="")
    api_secret = EncryptedTextField(blank=True, default="")
    api_passphrase = EncryptedTextField(blank=True, default="")
    sandbox = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=255, choices=StatusReason.choices, blank=True, default="")
    last_verified_at = models.DateTimeField(null=True, blank=True)
    # Whether the exchange says the key works only from the addresses its owner listed (the
    # platform's, settings.EXCHANGE_EGRESS_ADDRESSES); null where the exchange does not tell.
    ip_restricted = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["active", "invalid"]), name="exchange_account_status_valid"),
            models.UniqueConstraint(fields=["owner", "label"], name="exchange_account_unique_label_per_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange_id}) of {self.owner}"

    @property
    def is_paper(self) -> bool:
        return self.exchange_id == PAPER

    def __repr__(self) -> str:  # never let a secret slip into a traceback or log line
        return f"<ExchangeAccount id={self.pk} exchange={self.exchange_id} owner={self.owner_id}>"


class MarginMode(models.TextChoices):
    ISOLATED = "isolated", "Isolated: each position risks only its own margin"
    CROSS = "cross", "Cross: the account's whole futures balance backs every position"


class PerpetualSetting(models.Model):
    """The leverage and margin mode last set on the exchange for one account's perpetual:
    set once before the first order there, and again only when a copy asks for another."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="perpetual_settings")
    symbol = models.CharField(max_length=50)
    leverage = models.PositiveSmallIntegerField()
    margin_mode = models.CharField(max_length=10, choices=MarginMode.choices)
    applied_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="perpetual_setting_once_per_symbol"),
            models.CheckConstraint(condition=models.Q(leverage__gte=1) & models.Q(leverage__lte=125), name="perpetual_leverage_1_125"),
            models.CheckConstraint(condition=models.Q(margin_mode__in=["isolated", "cross"]), name="perpetual_margin_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.account} · {self.symbol} {self.leverage}× {self.margin_mode}"


class PaperPerpetualPosition(models.Model):
    """A paper account's perpetual position (one-way): its leverage, margin mode and the margin
    it holds, taken from the account's quote balance (exchanges/gateways/paper_perpetuals.py)."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="paper_perpetual_positions")
    symbol = models.CharField(max_length=50)
    quantity = quantity_field(default=0)  # signed contracts
    entry_price = quantity_field(default=0)
    leverage = models.PositiveSmallIntegerField(default=1)
    margin_mode = models.CharField(max_length=10, choices=MarginMode.choices, default=MarginMode.ISOLATED)
    margin = quantity_field(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "symbol"], name="paper_perpetual_position_unique"),
            models.CheckConstraint(condition=models.Q(margin__gte=0), name="paper_perpetual_margin_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {format_quantity(self.quantity)} at {self.leverage}× {self.margin_mode}"


class PaperBalance(models.Model):
    """One currency of a paper account. `locked` is held by resting limit orders."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="paper_balances")
    currency = models.CharField(max_length=20)
    free = quantity_field(default=0)
    locked = quantity_field(default=0)

    class Meta:
        ordering = ["account_id", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["account", "currency"], name="paper_balance_unique_currency_per_account"),
            # The last line of defence against overspending: a bug that would drive a
            # balance negative fails the transaction instead.
            models.CheckConstraint(condition=models.Q(free__gte=0, locked__gte=0), name="paper_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{format_quantity(self.free)} {self.currency} free, {format_quantity(self.locked)} locked"


class PaperOrder(models.Model):
    class Side(models.TextChoices):
        BUY = "buy"
        SELL = "sell"

    class Type(models.TextChoices):
        MARKET = "market"
        LIMIT = "limit"

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"
        CANCELED = "canceled"
        EXPIRED = "expired"

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE, related_name="paper_orders")
    client_order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=50)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=6, choices=Type.choices)
    amount = quantity_field()
    price = quantity_field(null=True, blank=True)  # the limit price; null for market orders
    status = models.CharField(max_length=8, choices=Status.choices)
    filled = quantity_field(default=0)
    average_price = quantity_field(null=True, blank=True)
    cost = quantity_field(default=0)
    fee = quantity_field(default=0)
    fee_currency = models.CharField(max_length=20)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            # Idempotency: a retried placement with the same client order id is refused,
            # as real exchanges do, so it can never execute twice.
            models.UniqueConstraint(fields=["account", "client_order_id"], name="paper_order_unique_client_order_id"),
            models.CheckConstraint(condition=models.Q(side__in=["buy", "sell"]), name="paper_order_side_valid"),
            models.CheckConstraint(condition=models.Q(type__in=["market", "limit"]), name="paper_order_type_valid"),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "closed", "canceled", "expired"]), name="paper_order_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {format_quantity(self.amount)} {self.symbol} · {self.type} · {self.status}"


class Candle(models.Model):
    """Closed OHLCV candles from an exchange, for metrics and track-record verification."""

    class Timeframe(models.TextChoices):
        MINUTE = "1m"
        HOUR = "1h"
        DAY = "1d"

    exchange_id = models.CharField(max_length=32)
    symbol = models.CharField(max_length=50)
    timeframe = models.CharField(max_length=3, choices=Timeframe.choices)
    open_time = models.DateTimeField()
    open = quantity_field()
    high = quantity_field()
    low = quantity_field()
    close = quantity_field()
    volume = quantity_field()

    class Meta:
        ordering = ["exchange_id", "symbol", "timeframe", "open_time"]
        constraints = [
            # Also the index for range reads: (exchange, symbol, timeframe) then open_time.
            models.UniqueConstraint(fields=["exchange_id", "symbol", "timeframe", "open_time"], name="candle_unique_open_time"),
            models.CheckConstraint(condition=models.Q(timeframe__in=["1m", "1h", "1d"]), name="candle_timeframe_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange_id} {self.symbol} {self.timeframe} candle at {self.open_time:%Y-%m-%d %H:%M} UTC"
