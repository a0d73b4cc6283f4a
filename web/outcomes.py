"""Every copied trade's outcome in words: what happened and why, never a status code.

"Skipped: your share was below the exchange's minimum order", not `below_exchange_minimum`.
The codes are the ones copytrade's execution, sizing and risk checks store on the row."""

from copytrade.currency import QUOTE_NOT_CONVERTIBLE
from copytrade.models import CopiedTrade, CopyRelationship
from copytrade.risk import (
    CLAMPED_TO_MAX_ORDER_NOTIONAL,
    CLAMPED_TO_MULTIPLIER_CAP,
    COPY_PAUSED,
    COPY_STOPPED,
    INSUFFICIENT_MARGIN,
    SLIPPAGE_EXCEEDED,
    STRATEGY_NOT_ACCEPTING,
)
from copytrade.services.copies import CREDENTIALS_PAUSE_REASON, PAUSED_BY_FOLLOWER
from copytrade.services.execution import ACCOUNT_INVALID, EXCHANGE_UNAVAILABLE, INVALID_CREDENTIALS, NOT_FILLED
from copytrade.sizing import BELOW_EXCHANGE_MINIMUM, NO_POSITION, ROUNDED_UP_TO_MINIMUM
from web.templatetags.web import money, price

STATUS_WORDS = {
    CopiedTrade.Status.PENDING: "Waiting to be placed",
    CopiedTrade.Status.EXECUTING: "Being placed on the exchange",
    CopiedTrade.Status.FILLED: "Filled",
    CopiedTrade.Status.PARTIALLY_FILLED: "Partly filled",
    CopiedTrade.Status.SKIPPED: "Skipped",
    CopiedTrade.Status.FAILED: "Failed",
}

REASON_WORDS = {
    COPY_PAUSED: "the copy was paused, and a paused copy opens no new positions",
    COPY_STOPPED: "the copy was stopped",
    STRATEGY_NOT_ACCEPTING: "the leader's strategy was not taking new entries",
    SLIPPAGE_EXCEEDED: "the price had moved further from the leader's price than your slippage limit allows",
    INSUFFICIENT_MARGIN: "your account did not have enough free balance for the order",
    NO_POSITION: "the copy held no position to reduce or close",
    ACCOUNT_INVALID: "the exchange account needs new API keys",
    INVALID_CREDENTIALS: "the exchange rejected the account's API key",
    NOT_FILLED: "the exchange did not fill the order",
    EXCHANGE_UNAVAILABLE: "the exchange did not answer after several attempts; no order was placed",
    ROUNDED_UP_TO_MINIMUM: "rounded up to the exchange's minimum order, as you allowed",
    CLAMPED_TO_MAX_ORDER_NOTIONAL: "made smaller to your largest-order limit",
    QUOTE_NOT_CONVERTIBLE: "its profit and loss would be in a currency this platform cannot convert to bill it; no order was placed",
    CLAMPED_TO_MULTIPLIER_CAP: "made smaller to the platform's largest order for a multiplier copy",
}

KIND_WORDS = {
    CopiedTrade.Kind.MIRROR: "",
    CopiedTrade.Kind.STOP_LOSS: "Closed by your copy stop-loss",
    CopiedTrade.Kind.CLOSE_ON_STOP: "Closed when you stopped the copy",
}

EFFECT_WORDS = {"open": "opened", "increase": "added to", "reduce": "reduced", "close": "closed"}


def copied_trade_outcome(trade: CopiedTrade, *, currency: str) -> str:
    """One sentence: "Filled: bought 0.015 BTC/USDT at 64,250.5." or "Skipped: your share
    (3.50 USDT) was below the exchange's minimum order."."""
    status = STATUS_WORDS.get(trade.status, trade.status)
    if trade.status in (CopiedTrade.Status.FILLED, CopiedTrade.Status.PARTIALLY_FILLED):
        verb = "bought" if trade.side == "buy" else "sold"
        text = f"{status}: {verb} {price(trade.filled_amount)} {trade.symbol}"
        if trade.average_price:
            text += f" at {price(trade.average_price)}"
        note = _reason(trade, currency=currency)
        return f"{text} ({note})." if note else f"{text}."
    if trade.status in (CopiedTrade.Status.SKIPPED, CopiedTrade.Status.FAILED):
        return f"{status}: {_reason(trade, currency=currency) or 'no reason was recorded'}."
    return f"{status}."


def _reason(trade: CopiedTrade, *, currency: str) -> str:
    reason = trade.reason
    if not reason:
        return ""
    if reason == BELOW_EXCHANGE_MINIMUM:
        if trade.follower_size_usd:
            return f"your share ({money(trade.follower_size_usd, currency)}) was below the exchange's minimum order"
        return "your share was below the exchange's minimum order"
    if reason.startswith("filled "):
        return f"the exchange filled {reason.removeprefix('filled ')} requested"
    return REASON_WORDS.get(reason, reason.replace("_", " "))


def copied_trade_action(trade: CopiedTrade) -> str:
    """What the trade did to the copy's position: "Opened a long", "Closed by your copy stop-loss"."""
    if trade.kind != CopiedTrade.Kind.MIRROR:
        return KIND_WORDS[trade.kind]
    side = "buy" if trade.side == "buy" else "sell"
    return f"Leader {EFFECT_WORDS.get(trade.effect, trade.effect)} a position ({side})"


def pause_reason_in_words(relationship: CopyRelationship) -> str:
    reason = relationship.pause_reason
    if reason == PAUSED_BY_FOLLOWER:
        return "You paused it."
    if reason == CREDENTIALS_PAUSE_REASON:
        return "Paused because the exchange rejected the account's API key: reconnect the account, then resume."
    if reason.startswith("copy stop-loss"):
        return f"Paused by its stop-loss: {reason.removeprefix('copy stop-loss: ')}. Its positions were closed at market."
    return f"Paused: {reason}." if reason else "Paused."
