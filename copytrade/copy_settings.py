"""Every setting a follower chooses for a copy, in words: its default and what it does (the
copy form, the Edit page, the API schema and docs/USING.md say the same), and what changing
one does to the positions the copy already holds, said before the change is saved."""

from dataclasses import dataclass
from decimal import Decimal

from copytrade.models import Copy, FollowerPosition
from copytrade.reasons import percent_text
from core.money import format_money, format_quantity
from exchanges.models import MarginMode


@dataclass(frozen=True)
class CopySetting:
    label: str
    default: str
    does: str

    @property
    def help_text(self) -> str:
        return f"{self.does} Default: {self.default}."


# Optional, None when unset: per position take-profit / stop-loss (%), and caps on entries.
POSITION_LIMITS = ("take_profit_percent", "stop_loss_percent", "max_open_positions", "max_exposure")

# What a leader may recommend (marketplace.StrategyRecommendation): the share and the limits;
# the sizing mode and the markets stay the follower's to choose.
RECOMMENDABLE = (
    "allocation_percent",
    "max_drawdown_stop",
    "max_slippage_percent",
    "take_profit_percent",
    "stop_loss_percent",
    "max_open_positions",
)

SETTINGS = {
    "allocation_percent": CopySetting(
        "Share of your account (%)",
        "10 %",
        "Proportional sizing: this share of the account's equity is the copy's capital, and each trade takes the same "
        "share of it as the leader's trade takes of the leader's equity.",
    ),
    "multiplier": CopySetting(
        "Multiplier", "none, you choose it", "Multiplier sizing: each new order is the leader's order size times this factor."
    ),
    "fixed_notional": CopySetting(
        "Amount per new position", "none, you choose it", "Fixed sizing: every new position opens at this amount."
    ),
    "max_drawdown_stop": CopySetting(
        "Copy stop-loss (%)",
        "30 %",
        "When the copy's equity falls this far below its best, its positions are closed at market and the copy pauses.",
    ),
    "max_slippage_percent": CopySetting(
        "Slippage limit (%)",
        "1 %",
        "A new position or an increase is skipped when the price has moved further than this from the leader's fill; "
        "reductions and closes are never held back by it.",
    ),
    "max_order_notional": CopySetting(
        "Largest order (optional)", "no limit", "A copied order bigger than this is placed at this size instead."
    ),
    "round_up_to_minimum": CopySetting(
        "Round small orders up to the exchange's minimum",
        "off",
        "On: an order below the exchange's minimum is placed at the minimum; off: it is skipped, and the trade says why.",
    ),
    "open_positions_at_start": CopySetting(
        "Open the leader's current positions now",
        "off",
        "On: each position the leader holds when the copy starts is opened at market, where the price is not worse "
        "than the leader's entry by more than your slippage limit (the others follow from the leader's next trade); "
        "off: only the leader's new trades are copied.",
    ),
    "symbol_list": CopySetting(
        "Markets to copy",
        "every market the leader trades",
        "Allow: only the markets you list are copied; deny: every market except those you list. A position the copy "
        "already holds always follows the leader's exits, whatever the list says.",
    ),
    "take_profit_percent": CopySetting(
        "Take-profit per position (%, optional)",
        "none",
        "A position is closed at market once the price has moved this far in its favour from the copy's own entry "
        "price; the copy carries on.",
    ),
    "stop_loss_percent": CopySetting(
        "Stop-loss per position (%, optional)",
        "none",
        "A position is closed at market once the price has moved this far against it from the copy's own entry price; "
        "the slippage limit never holds this exit back.",
    ),
    "max_open_positions": CopySetting(
        "Most open positions (optional)",
        "no limit",
        "A new position in another market is skipped while the copy already holds this many; increases and exits still follow.",
    ),
    "max_exposure": CopySetting(
        "Most in open positions (optional)",
        "no limit",
        "An entry is skipped when it would take the copy's open positions, at their entry prices, past this amount.",
    ),
    "leverage_policy": CopySetting(
        "Leverage on perpetual futures",
        "follow the leader's",
        "Set on the exchange before the copy's first order on each perpetual market, and again when it changes; spot trades ignore it.",
    ),
    "leverage": CopySetting(
        "Your leverage (×)",
        "none, you choose it",
        "For “always” and “at most”: your share of the leader's margin is opened at this leverage (1 to 125).",
    ),
    "margin_mode": CopySetting(
        "Margin mode",
        "cross",
        "A new position needs its margin free on your futures wallet; exits are never held back.",
    ),
}


def _positions_text(positions: list[FollowerPosition]) -> str:
    if not positions:
        return ""
    names = ", ".join(position.symbol for position in positions)
    return f"your open {names} position{'s are' if len(positions) > 1 else ' is'} not resized"


def _exit_level(position: FollowerPosition, *, percent: Decimal, favour: bool) -> str:
    """ "BTC/USDT closes at 63,000" for a long entered at 60,000 and a 5 % take-profit."""
    up = (position.quantity > 0) == favour
    level = position.average_entry * (1 + percent / 100 if up else 1 - percent / 100)
    return f"{position.symbol} closes at {format_quantity(level)}"


def _held_open(text: str, held: int, limit) -> str:
    if limit is not None and held > limit:
        return f"{text}; the {held} it holds now stay open and follow the leader's exits"
    return text


def copy_change_effects(*, copy: Copy, data: dict) -> list[str]:
    """One sentence per setting `data` changes: what it does from now on, and to the positions
    already open. A setting given at its current value says nothing."""
    positions = list(FollowerPosition.objects.filter(copy=copy).exclude(quantity=0).order_by("symbol"))
    not_resized = _positions_text(positions)
    quote = copy.strategy.quote_currency
    effects = []
    changed = {name: value for name, value in data.items() if getattr(copy, name, None) != value}

    def held(text: str) -> str:
        return f"{text}; {not_resized}" if not_resized else text

    if "allocation_percent" in changed:
        old, new = copy.allocation_percent, Decimal(changed["allocation_percent"])
        capital = copy.copy_capital * new / old
        effects.append(
            held(
                f"A {'smaller' if new < old else 'larger'} share ({percent_text(old)} → {percent_text(new)}) applies from the "
                f"next trade, and the copy's capital becomes {format_money(capital, quote)}"
            )
        )
    if "multiplier" in changed:
        effects.append(
            held(
                f"The multiplier {format_quantity(copy.multiplier)} → {format_quantity(changed['multiplier'])} applies from the next trade"
            )
        )
    if "fixed_notional" in changed:
        effects.append(
            held(
                f"New positions open at {format_money(changed['fixed_notional'], quote)} instead of "
                f"{format_money(copy.fixed_notional, quote)} from the next trade"
            )
        )
    if "max_drawdown_stop" in changed:
        new = Decimal(changed["max_drawdown_stop"])
        text = (
            f"The copy stop-loss moves from {percent_text(copy.max_drawdown_stop)} to {percent_text(new)} below the "
            f"copy's best equity (its drawdown now is {percent_text(copy.current_drawdown_percent)})"
        )
        if copy.current_drawdown_percent >= new and positions:
            text += "; that is already reached, so its open positions are closed at market at the next price check and the copy pauses"
        effects.append(text)
    if "max_slippage_percent" in changed:
        effects.append(
            f"The slippage limit {percent_text(copy.max_slippage_percent)} → "
            f"{percent_text(changed['max_slippage_percent'])} applies to the next new position or increase; exits are never held back by it"
        )
    if "max_order_notional" in changed:
        new = changed["max_order_notional"]
        limit = "no limit" if new is None else format_money(new, quote)
        effects.append(held(f"The largest order becomes {limit} from the next order"))
    if "round_up_to_minimum" in changed:
        state = "placed at the exchange's minimum" if changed["round_up_to_minimum"] else "skipped"
        effects.append(f"From the next trade, an order below the exchange's minimum is {state}")
    for name, kind in (("take_profit_percent", "take-profit"), ("stop_loss_percent", "stop-loss")):
        if name not in changed:
            continue
        new = changed[name]
        if new is None:
            effects.append(f"No {kind} per position from now on; your open positions are no longer watched for it")
            continue
        text = f"A {kind} of {percent_text(new)} from the copy's own entry watches every position from the next price check"
        levels = [_exit_level(position, percent=Decimal(new), favour=name == "take_profit_percent") for position in positions]
        if levels:
            text += ", your open ones too: " + ", ".join(levels)
        effects.append(text)
    if "max_open_positions" in changed:
        new = changed["max_open_positions"]
        text = "No limit on open positions" if new is None else f"At most {new} open positions"
        effects.append(_held_open(f"{text} from the next new position", len(positions), new))
    if "max_exposure" in changed:
        new = changed["max_exposure"]
        text = "No limit on the total in open positions" if new is None else f"At most {format_money(new, quote)} in open positions"
        effects.append(f"{text} from the next entry; positions already open are not reduced to it")
    if "leverage_policy" in changed or "leverage" in changed:
        policy = data.get("leverage_policy", copy.leverage_policy)
        leverage = data.get("leverage", copy.leverage)
        Policy = Copy.LeveragePolicy
        text = {
            Policy.FOLLOW: "Perpetual entries follow the leader's leverage",
            Policy.FIXED: f"Perpetual entries open at {leverage}×",
            Policy.CAP: f"Perpetual entries follow the leader's leverage, at most {leverage}×",
        }[policy]
        effects.append(
            f"{text} from the copy's next entry on each market, set on the exchange before that order; open positions keep theirs"
        )
    if "margin_mode" in changed:
        effects.append(
            f"{MarginMode(changed['margin_mode']).label.split(':')[0]} margin from the copy's next entry on each perpetual market; "
            "where a position is open the exchange refuses the change until it closes, and an entry there is skipped with the reason"
        )
    if "symbol_list_mode" in changed or "symbol_list" in changed:
        mode = data.get("symbol_list_mode", copy.symbol_list_mode)
        symbols = ", ".join(data.get("symbol_list", copy.symbol_list))
        Mode = Copy.SymbolListMode
        text = {
            Mode.ALL: "From the next trade every market the leader trades is copied",
            Mode.ALLOW: f"From the next trade only {symbols} {'is' if ',' not in symbols else 'are'} copied",
            Mode.DENY: f"From the next trade {symbols} {'is' if ',' not in symbols else 'are'} no longer copied",
        }[mode]
        if positions:
            text += "; the open positions follow the leader's exits, whatever the list says"
        effects.append(text)
    return effects
