"""Every copied trade's outcome in words: what happened and why, never a status code.

"Skipped: your share was below the exchange's minimum order", not `below_exchange_minimum`.
The reasons' sentences come from `copytrade.reasons`, the one table of them."""

from decimal import Decimal

from copytrade.models import CopiedTrade, Copy
from copytrade.reasons import copied_trade_reason_text, pause_reason_text, sentence
from copytrade.sizing import is_entry
from core.money import format_quantity

STATUS_WORDS = {
    CopiedTrade.Status.PENDING: "Waiting to be placed",
    CopiedTrade.Status.EXECUTING: "Being placed on the exchange",
    CopiedTrade.Status.FILLED: "Filled",
    CopiedTrade.Status.PARTIALLY_FILLED: "Partly filled",
    CopiedTrade.Status.SKIPPED: "Skipped",
    CopiedTrade.Status.FAILED: "Failed",
}

EFFECT_WORDS = {"open": "opened", "increase": "added to", "reduce": "reduced", "close": "closed"}


def copied_trade_outcome(trade: CopiedTrade) -> str:
    """One sentence: "Filled: bought 0.015 BTC/USDT at 64,250.5." or "Skipped: your share
    (3.50 USDT) was below the exchange's minimum order."."""
    status = STATUS_WORDS.get(trade.status, trade.status)
    if trade.status in (CopiedTrade.Status.FILLED, CopiedTrade.Status.PARTIALLY_FILLED):
        verb = "bought" if trade.side == "buy" else "sold"
        text = f"{status}: {verb} {format_quantity(trade.filled_amount)} {trade.symbol}"
        if trade.average_price:
            text += f" at {format_quantity(trade.average_price)}"
        note = copied_trade_reason_text(trade)
        return f"{text} ({note})." if note else f"{text}."
    if trade.status in (CopiedTrade.Status.SKIPPED, CopiedTrade.Status.FAILED):
        return f"{status}: {copied_trade_reason_text(trade) or 'no reason was recorded'}."
    return f"{status}."


def copied_trade_action(trade: CopiedTrade) -> str:
    """What the trade did to the copy's position: "Opened a long", "Closed by your copy stop-loss"."""
    if trade.kind != CopiedTrade.Kind.MIRROR:
        return sentence(trade.get_kind_display()).rstrip(".")
    side = "buy" if trade.side == "buy" else "sell"
    return f"Leader {EFFECT_WORDS.get(trade.effect, trade.effect)} a position ({side})"


def copied_trade_pnl_before_fee(trade: CopiedTrade) -> Decimal | None:
    """What the fill realised before its trading fee (the fee is shown beside it, as a fee);
    None for an entry, which realises nothing: its row's net P&L is only its fee."""
    if trade.status not in (CopiedTrade.Status.FILLED, CopiedTrade.Status.PARTIALLY_FILLED) or is_entry(trade.effect):
        return None
    if trade.kind == CopiedTrade.Kind.RESYNC:  # traded outside the copy's position: no P&L of the copy's
        return None
    return trade.pnl_quote + trade.fee


def pause_reason_in_words(copy: Copy) -> str:
    return f"Paused: {pause_reason_text(copy)}."
