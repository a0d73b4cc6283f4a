"""Every setting a follower chooses for a copy, in words: its default and what it does (the
copy form, the Edit page, the API schema and the README say the same), and what changing
one does to the positions the copy already holds, said before the change is saved."""

from dataclasses import dataclass
from decimal import Decimal

from copytrade.models import CopyRelationship, FollowerPosition
from copytrade.reasons import percent_text
from core.money import format_money, format_quantity


@dataclass(frozen=True)
class CopySetting:
    label: str
    default: str
    does: str

    @property
    def help_text(self) -> str:
        return f"{self.does} Default: {self.default}."


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
    "symbol_list": CopySetting(
        "Markets to copy",
        "every market the leader trades",
        "Allow: only the markets you list are copied; deny: every market except those you list. A position the copy "
        "already holds always follows the leader's exits, whatever the list says.",
    ),
}


def _positions_text(positions: list[FollowerPosition]) -> str:
    if not positions:
        return ""
    names = ", ".join(position.symbol for position in positions)
    return f"your open {names} position{'s are' if len(positions) > 1 else ' is'} not resized"


def copy_change_effects(*, relationship: CopyRelationship, data: dict) -> list[str]:
    """One sentence per setting `data` changes: what it does from now on, and to the positions
    already open. A setting given at its current value says nothing."""
    positions = list(FollowerPosition.objects.filter(relationship=relationship).exclude(quantity=0).order_by("symbol"))
    not_resized = _positions_text(positions)
    quote = relationship.strategy.quote_currency
    effects = []
    changed = {name: value for name, value in data.items() if getattr(relationship, name, None) != value}

    def held(text: str) -> str:
        return f"{text}; {not_resized}" if not_resized else text

    if "allocation_percent" in changed:
        old, new = relationship.allocation_percent, Decimal(changed["allocation_percent"])
        capital = relationship.copy_capital * new / old
        effects.append(
            held(
                f"A {'smaller' if new < old else 'larger'} share ({percent_text(old)} → {percent_text(new)}) applies from the "
                f"next trade, and the copy's capital becomes {format_money(capital, quote)}"
            )
        )
    if "multiplier" in changed:
        effects.append(
            held(
                f"The multiplier {format_quantity(relationship.multiplier)} → {format_quantity(changed['multiplier'])} applies from the next trade"
            )
        )
    if "fixed_notional" in changed:
        effects.append(
            held(
                f"New positions open at {format_money(changed['fixed_notional'], quote)} instead of "
                f"{format_money(relationship.fixed_notional, quote)} from the next trade"
            )
        )
    if "max_drawdown_stop" in changed:
        new = Decimal(changed["max_drawdown_stop"])
        text = (
            f"The copy stop-loss moves from {percent_text(relationship.max_drawdown_stop)} to {percent_text(new)} below the "
            f"copy's best equity (its drawdown now is {percent_text(relationship.current_drawdown_percent)})"
        )
        if relationship.current_drawdown_percent >= new and positions:
            text += "; that is already reached, so its open positions are closed at market at the next price check and the copy pauses"
        effects.append(text)
    if "max_slippage_percent" in changed:
        effects.append(
            f"The slippage limit {percent_text(relationship.max_slippage_percent)} → "
            f"{percent_text(changed['max_slippage_percent'])} applies to the next new position or increase; exits are never held back by it"
        )
    if "max_order_notional" in changed:
        new = changed["max_order_notional"]
        limit = "no limit" if new is None else format_money(new, quote)
        effects.append(held(f"The largest order becomes {limit} from the next order"))
    if "round_up_to_minimum" in changed:
        state = "placed at the exchange's minimum" if changed["round_up_to_minimum"] else "skipped"
        effects.append(f"From the next trade, an order below the exchange's minimum is {state}")
    if "symbol_list_mode" in changed or "symbol_list" in changed:
        mode = data.get("symbol_list_mode", relationship.symbol_list_mode)
        symbols = ", ".join(data.get("symbol_list", relationship.symbol_list))
        Mode = CopyRelationship.SymbolListMode
        text = {
            Mode.ALL: "From the next trade every market the leader trades is copied",
            Mode.ALLOW: f"From the next trade only {symbols} {'is' if ',' not in symbols else 'are'} copied",
            Mode.DENY: f"From the next trade {symbols} {'is' if ',' not in symbols else 'are'} no longer copied",
        }[mode]
        if positions:
            text += "; the open positions follow the leader's exits, whatever the list says"
        effects.append(text)
    return effects
