"""copytrade/rows.py writes values as the ORM would: its shortcut for the plain types
(Decimal, aware datetime, str, int) gives what `pre_save` + `get_db_prep_save` give, and
anything else still goes through them (a naive datetime is made aware, NaN is refused)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from copytrade import execution_statements as statements
from copytrade import rows
from copytrade.models import CopiedTrade


def orm_values(obj, names):
    fields = [type(obj)._meta.get_field(name) for name in names]
    return [field.get_db_prep_save(field.pre_save(obj, False), connection=connection) for field in fields]


def test_the_fills_values_are_the_orms_whichever_way_they_are_prepared():
    trade = CopiedTrade(
        pk=7,
        status=CopiedTrade.Status.FILLED,  # a choices enum: the ORM's way
        reason="",
        filled_amount=Decimal("0.0012345678901"),  # more places than the column: PostgreSQL rounds, either way
        average_price=Decimal("65000.5"),
        fee=Decimal("0"),
        quote_currency="USDT",
        pnl_quote=Decimal("-1.25"),
        quote_rate=None,
        pnl_billing=Decimal("-1.25"),
        follower_size_quote=Decimal("100"),
        exchange_order_id="123",
        acknowledged_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
        finished_at=datetime(2026, 12, 7, 10, 0, 1, tzinfo=UTC),
        lease_expires_at=None,
        delay_ms=412,
        price_gap_bps=Decimal("-3.5"),
    )
    _, values = rows._prepared(trade, statements.TRADE_FILL_FIELDS, add=False)
    expected = orm_values(trade, statements.TRADE_FILL_FIELDS)
    assert values == expected and [type(v) for v in values] == [type(v) for v in expected]


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_values_the_shortcut_does_not_take_go_the_orms_way():
    trade = CopiedTrade(pk=7, finished_at=datetime(2026, 12, 7, 10, 0), fee=Decimal("NaN"))
    _, [finished_at] = rows._prepared(trade, ["finished_at"], add=False)
    assert finished_at.tzinfo is not None  # made aware, as the ORM does
    with pytest.raises(ValidationError):
        rows._prepared(trade, ["fee"], add=False)
