"""What a leader's signal is: its actions, its fields and their bounds, and the one parser
that the webhook, the REST call and the API schema share."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from core.money import MAX_QUANTITY, to_decimal

BUY, SELL, CLOSE = "buy", "sell", "close"
ACTIONS = (BUY, SELL, CLOSE)
FLIP_SUFFIX = ":flip"

# A flip stores `<external_id>:flip` in the 100-character column.
MAX_EXTERNAL_ID_LENGTH = 100 - len(FLIP_SUFFIX)


@dataclass(frozen=True)
class LeaderSignal:
    """What a leader asks for. Exactly one of amount / position_size_usd / fraction, except a
    close, which needs none (it closes the whole position)."""

    external_id: str
    symbol: str
    action: str  # buy | sell | close
    amount: Decimal | None = None
    position_size_usd: Decimal | None = None
    fraction: Decimal | None = None
    price: Decimal | None = None
    sent_at: datetime | None = None
    # Perpetuals: the leverage the leader trades at (a whole number, 1 to 125); none is 1×.
    leverage: int | None = None


def signal_time_parse(value) -> datetime:
    """Unix seconds (a number) or ISO-8601 (UTC when no offset is given)."""
    if isinstance(value, bool):
        raise ValidationError({"timestamp": "Use unix seconds or an ISO-8601 date-time."})
    if isinstance(value, int | float | Decimal):
        try:
            seconds = to_decimal(value)
            if not seconds.is_finite():
                raise ValueError
            return datetime.fromtimestamp(float(seconds), tz=UTC)
        except (ValueError, OverflowError, OSError, InvalidOperation):
            raise ValidationError({"timestamp": "Unix seconds out of range."}) from None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError({"timestamp": "Use unix seconds or an ISO-8601 date-time."})
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValidationError({"timestamp": "Use unix seconds or an ISO-8601 date-time."})


# Upper bounds of what a signal may ask for (nobody trades more). An amount is a quantity
# column's value: larger ones could be neither quantized nor stored.
SIGNAL_MAX = {"amount": MAX_QUANTITY, "position_size_usd": Decimal("1e11"), "fraction": Decimal("1"), "price": Decimal("1e11")}
MAX_LEVERAGE = 125
SIGNAL_FIELDS = ("external_id", "symbol", "action", *SIGNAL_MAX, "leverage", "timestamp")
_EXTERNAL_ID = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: it is a key, not prose


def leader_signal_parse(payload, *, extra_fields: tuple[str, ...] = (), timestamp_required: bool = False) -> LeaderSignal:
    """A leader's signal from a request body (the webhook's or the REST call's), or a
    ValidationError naming the field. Unknown fields are refused: a typo (`ammount`) must not
    be silently dropped. `extra_fields` are the caller's own (the webhook's strategy_id)."""
    if not isinstance(payload, dict):
        raise ValidationError({"non_field_errors": "Send a JSON object."})
    unknown = sorted(set(payload) - set(SIGNAL_FIELDS) - set(extra_fields))
    if unknown:
        raise ValidationError({unknown[0]: "Unknown field."})
    external_id = _text(payload, "external_id", max_length=MAX_EXTERNAL_ID_LENGTH)
    if not _EXTERNAL_ID.match(external_id):
        raise ValidationError({"external_id": "Use printable characters without spaces."})
    if external_id.endswith(FLIP_SUFFIX):
        raise ValidationError({"external_id": f"The suffix '{FLIP_SUFFIX}' is reserved for flips."})
    symbol = _text(payload, "symbol", max_length=50)
    action = payload.get("action")
    if action not in ACTIONS:
        raise ValidationError({"action": f"Use one of {', '.join(ACTIONS)}." if action is not None else "This field is required."})
    numbers = {name: _signal_number(payload, name) for name in SIGNAL_MAX if payload.get(name) is not None}
    sizes = [name for name in ("amount", "position_size_usd", "fraction") if name in numbers]
    if action == CLOSE and sizes:
        raise ValidationError({sizes[0]: "A close takes the whole position; send no size."})
    if action != CLOSE and len(sizes) != 1:
        raise ValidationError({"amount": "Send exactly one of amount, position_size_usd or fraction."})
    if payload.get("timestamp") is not None:
        sent_at = signal_time_parse(payload["timestamp"])
    elif timestamp_required:
        raise ValidationError({"timestamp": "This field is required."})
    else:
        sent_at = None
    leverage = _leverage(payload.get("leverage")) if payload.get("leverage") is not None else None
    return LeaderSignal(external_id=external_id, symbol=symbol, action=action, sent_at=sent_at, leverage=leverage, **numbers)


def _leverage(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise ValidationError({"leverage": f"Send a whole number from 1 to {MAX_LEVERAGE}."})
    leverage = int(str(value).strip())
    if not 1 <= leverage <= MAX_LEVERAGE:
        raise ValidationError({"leverage": f"Send a whole number from 1 to {MAX_LEVERAGE}."})
    return leverage


def _text(payload: dict, name: str, *, max_length: int) -> str:
    value = payload.get(name)
    if value is None:
        raise ValidationError({name: "This field is required."})
    if not isinstance(value, str):
        raise ValidationError({name: "Not a valid string."})
    value = value.strip()
    if not value:
        raise ValidationError({name: "This field may not be blank."})
    if len(value) > max_length:
        raise ValidationError({name: f"Ensure this field has no more than {max_length} characters."})
    return value


def _signal_number(payload: dict, name: str) -> Decimal:
    value = payload[name]
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
            raise ValueError
        number = to_decimal(value.strip() if isinstance(value, str) else value)
    except (ArithmeticError, ValueError):
        raise ValidationError({name: "A valid number is required."}) from None
    if not number.is_finite():
        raise ValidationError({name: "A valid number is required."})
    if number <= 0:
        raise ValidationError({name: "Must be greater than 0."})
    if number > SIGNAL_MAX[name]:
        raise ValidationError({name: f"Ensure this value is less than or equal to {SIGNAL_MAX[name]}."})
    return number
