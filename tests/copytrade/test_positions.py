"""copytrade/positions.py: one arithmetic for a leader's legs and a copy's fills, and one
unrealised P&L that counts a swap's contract size wherever a position is marked."""

from decimal import Decimal

import pytest

from copytrade.models import FollowerPosition, LeaderPosition
from copytrade.positions import Fill, position_apply_fill, unrealised_pnl
from copytrade.selectors import PositionMarker, copy_get
from exchanges.types import MarketRules
from tests.factories import CopyFactory

SWAP = MarketRules(
    symbol="BTC/USDT:USDT",
    base="BTC",
    quote="USDT",
    type="swap",
    amount_step=Decimal("1"),
    price_step=Decimal("0.1"),
    contract_size=Decimal("0.001"),
)


def _fill(side: str, amount: str, price: str, contract_size: str = "1") -> Fill:
    return Fill(side=side, amount=Decimal(amount), price=Decimal(price), fee_quote=Decimal("0"), contract_size=Decimal(contract_size))


def test_a_short_that_flips_long_realises_at_the_average_entry_and_opens_the_rest_at_the_fill_price():
    position = FollowerPosition(quantity=Decimal("0"), average_entry=Decimal("0"))

    assert position_apply_fill(position, fill=_fill("sell", "2", "100")) == 0
    assert position_apply_fill(position, fill=_fill("sell", "2", "110")) == 0
    assert (position.quantity, position.average_entry) == (Decimal("-4"), Decimal("105"))
    assert position_apply_fill(position, fill=_fill("buy", "5", "95", contract_size="10")) == Decimal("400")  # (105 − 95) × 4 × 10
    assert (position.quantity, position.average_entry) == (Decimal("1"), Decimal("95"))


def test_a_leaders_close_leg_leaves_the_position_flat_with_no_entry():
    position = LeaderPosition(quantity=Decimal("0.5"), average_entry=Decimal("60000"))

    realised = position_apply_fill(position, fill=_fill("sell", "0.5", "62000"))

    assert realised == Decimal("1000")
    assert (position.quantity, position.average_entry) == (0, 0)


def test_a_short_swap_is_marked_in_contracts_times_their_size():
    position = FollowerPosition(quantity=Decimal("-30"), average_entry=Decimal("60000"))

    assert unrealised_pnl(position, price=Decimal("59000"), contract_size=SWAP.contract_size) == Decimal("30")  # 1,000 × 30 × 0.001


class _SwapExchange:
    """What the follower's exchange answers about one swap market (its price and contract size)."""

    def __init__(self, price: str):
        self.price = Decimal(price)

    def ticker_price(self, symbol: str, *, fresh: bool = False) -> Decimal:
        return self.price

    def market(self, symbol: str) -> MarketRules:
        return SWAP


@pytest.mark.django_db
def test_my_copies_marks_a_swap_position_with_its_contract_size(monkeypatch):
    copy = CopyFactory()
    FollowerPosition.objects.create(copy=copy, symbol=SWAP.symbol, quantity=Decimal("-30"), average_entry=Decimal("60000"))
    monkeypatch.setattr("copytrade.selectors.gateway_for_account", lambda account: _SwapExchange("59000"))

    unrealised = PositionMarker().unrealized_pnl(copy_get(follower=copy.follower, copy_id=copy.pk))

    assert unrealised == Decimal("30")  # not 30,000: 30 contracts of 0.001 BTC, not 30 BTC
