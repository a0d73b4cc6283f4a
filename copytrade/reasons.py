"""Every stored reason in words, with its numbers: the one place a code becomes a sentence.

The codes and their plain sentences are the TextChoices on the models
(`CopiedTrade.Reason`, `Copy.PauseReason`); a sentence that needs numbers takes
them from the row (`follower_size_quote`, `filled_amount`) or from the detail column written
beside the code (`reason_detail`, `pause_detail`), never from prose parsed back. Pages,
notifications, mails, the API and the demo all read these functions.

Sentences start in lower case and end without a full stop, so callers can write
"Skipped: <sentence>." or "Paused: <sentence>.".
"""

from decimal import Decimal

from copytrade.models import CopiedTrade, Copy, PositionDrift
from core.money import format_money, format_quantity


def percent_text(value) -> str:
    """A percentage already in percent, to 2 places without padding: "1.25 %", "30 %"."""
    return f"{format_quantity(Decimal(str(value)).quantize(Decimal('0.01')))} %"


def seconds_text(value) -> str:
    """A delay in seconds, to a tenth without padding: "75.3 s", "60 s"."""
    return f"{format_quantity(Decimal(str(value)).quantize(Decimal('0.1')))} s"


def quote_of(symbol: str) -> str:
    """The currency a market is priced in: "USDT" of "BTC/USDT" and of "BTC/USDT:USDT"."""
    return symbol.partition("/")[2].partition(":")[0]


def reason_label(choices: type, code: str) -> str:
    """The plain sentence of a stored code; an empty code (or one no table knows: the
    migrations turned every stored one into a code) never reads as the code itself."""
    try:
        return str(choices(code).label)
    except ValueError:
        return "no reason was recorded"


def copied_trade_reason_text(trade: CopiedTrade) -> str:
    """Why a copied trade was skipped or failed (or what changed a filled one), with its numbers."""
    code, detail = trade.reason, trade.reason_detail or {}
    if not code:
        return ""
    Reason = CopiedTrade.Reason
    if code == Reason.BELOW_EXCHANGE_MINIMUM and detail.get("minimum"):
        quote = quote_of(trade.symbol)
        share, minimum = format_money(Decimal(detail["share"]), quote), format_money(Decimal(detail["minimum"]), quote)
        return f"your share ({share}) was below the exchange's minimum order ({minimum})"
    if code == Reason.BELOW_EXCHANGE_MINIMUM and trade.follower_size_quote:
        share = format_money(trade.follower_size_quote, quote_of(trade.symbol))
        return f"your share ({share}) was below the exchange's minimum order"
    if code == Reason.SLIPPAGE_EXCEEDED and detail.get("price"):
        return (
            f"the price ({format_quantity(Decimal(detail['price']))}) had moved {percent_text(detail['gap_percent'])} from the "
            f"leader's ({format_quantity(Decimal(detail['leader_price']))}), more than your slippage limit of "
            f"{percent_text(detail['limit_percent'])}"
        )
    if code == Reason.MARKET_NOT_LISTED and detail.get("exchange"):
        return f"{detail['exchange']} does not list {trade.symbol}, the market the leader traded, so there was nothing to copy there"
    if code == Reason.TOO_LATE and detail.get("delay_seconds"):
        return (
            f"it was too late: it would have gone out {seconds_text(detail['delay_seconds'])} after the leader's trade, "
            f"past the {seconds_text(detail['limit_seconds'])} within which an entry is copied (exits are always copied)"
        )
    if code == Reason.INSUFFICIENT_MARGIN and detail.get("needed"):
        quote = detail.get("quote") or quote_of(trade.symbol)
        needed, free = format_money(Decimal(detail["needed"]), quote), format_money(Decimal(detail["free"]), quote)
        return f"the entry needed {needed} of margin at {detail['leverage']}× and your account had {free} free"
    if code == Reason.LEVERAGE_NOT_SET and detail.get("leverage"):
        return (
            f"the exchange refused {detail['leverage']}× {detail['margin_mode']} margin on this market "
            "(a position opened otherwise may be open there); no order was placed"
        )
    if code == Reason.START_PRICE_WORSE and detail.get("price"):
        return (
            f"the price ({format_quantity(Decimal(detail['price']))}) was {percent_text(detail['gap_percent'])} worse than the "
            f"leader's entry ({format_quantity(Decimal(detail['leader_price']))}), more than your slippage limit of "
            f"{percent_text(detail['limit_percent'])}; the copy follows {trade.symbol} from the leader's next trade"
        )
    if code == Reason.MAX_OPEN_POSITIONS and detail.get("limit"):
        return f"your copy already held {detail['held']} open positions, the most you allow ({detail['limit']})"
    if code == Reason.MAX_EXPOSURE and detail.get("limit"):
        quote = quote_of(trade.symbol)
        return (
            f"the order ({format_money(Decimal(detail['order']), quote)}) would have taken your copy's open positions from "
            f"{format_money(Decimal(detail['exposure']), quote)} past the {format_money(Decimal(detail['limit']), quote)} you allow"
        )
    if code == Reason.SYMBOL_NOT_ALLOWED and detail.get("mode"):
        listed = (
            "is not on your copy's list of markets to copy"
            if detail["mode"] == "allow"
            else "is on your copy's list of markets not to copy"
        )
        return f"{trade.symbol} {listed}; what the copy already holds there still follows the leader's exits"
    if code == Reason.PARTIAL_FILL and trade.requested_amount:
        return f"the exchange filled {format_quantity(trade.filled_amount)} of the {format_quantity(trade.requested_amount)} requested"
    return reason_label(Reason, code)


def pause_reason_text(copy: Copy) -> str:
    """Why a copy is paused, with its numbers."""
    code, detail = copy.pause_reason, copy.pause_detail or {}
    if code == Copy.PauseReason.STOP_LOSS and detail.get("drawdown_percent"):
        return (
            f"its stop-loss closed its positions at market: the copy fell {percent_text(detail['drawdown_percent'])} "
            f"below its peak, past your {percent_text(detail['limit_percent'])} limit"
        )
    return reason_label(Copy.PauseReason, code)


def drift_text(drift: PositionDrift) -> str:
    """What a copy's drift is, with its numbers: its recorded position, what the account holds
    (its share, when copies share the account) and that the account was traded outside them."""
    base, _, rest = drift.symbol.partition("/")
    unit = f" contracts of {drift.symbol}" if ":" in rest else f" {base}"
    label = drift.copy.exchange_account.label
    more = "more" if drift.difference > 0 else "less"
    text = (
        f"your copy recorded {format_quantity(drift.recorded)}{unit} in {drift.symbol}, but '{label}' holds "
        f"{format_quantity(abs(drift.difference))}{unit} {more}"
    )
    if drift.account_recorded != drift.recorded:
        text += (
            f" as your copy's share (the account holds {format_quantity(drift.account_actual)}{unit} where its live copies "
            f"together recorded {format_quantity(drift.account_recorded)})"
        )
    return text + ": the account was traded outside the copies (by hand, by another app, or a position a stopped copy left)"


def drift_action_text(drift: PositionDrift) -> str:
    """What was done about it, and whether it is mended."""
    text = reason_label(PositionDrift.Action, drift.action)
    return f"{text}; mended" if drift.resolved_at else text


def sentence(text: str) -> str:
    """A reason as a sentence of its own: capital first, one full stop."""
    return f"{text[:1].upper()}{text[1:].rstrip('.')}." if text else ""


def position_exit_text(*, kind: str, symbol: str, detail: dict) -> str:
    """Why the platform closed one position: its take-profit or stop-loss, with its numbers."""
    what = "take-profit" if kind == CopiedTrade.Kind.TAKE_PROFIT else "stop-loss"
    move = Decimal(detail["move_percent"])
    direction = "in its favour" if move >= 0 else "against it"
    return (
        f"your {what} of {percent_text(detail['limit_percent'])} on {symbol} was reached: the price "
        f"({format_quantity(Decimal(detail['price']))}) had moved {percent_text(abs(move))} {direction} from the copy's entry "
        f"({format_quantity(Decimal(detail['entry']))})"
    )
