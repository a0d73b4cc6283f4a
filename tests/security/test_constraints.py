"""The invariants hold in the database itself: a write that skips the services (a
`QuerySet.update`, a plain `create`, raw SQL) is refused by the named constraint."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from billing.models import FeeAssessment, Invoice, Payout
from billing.services import billing_period_run
from copytrade.models import CopiedTrade, Copy, LeaderTrade, Strategy
from exchanges.models import ExchangeAccount
from marketplace.models import Rating, SignalProvider
from tests.billing.factories import add_trade, at, make_copy, make_provider, make_strategy, month
from tests.marketplace.support import make_trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(owner, follower, stranger, settings):
    settings.STRIPE_API_KEY = ""  # the ledger only: no Stripe call
    make_provider(owner, subscription="49", performance_percent="20")
    strategy = make_strategy(owner, kind=Strategy.Kind.MANUAL)
    copy = make_copy(follower, strategy, started_at=at(2026, 9, 1))
    leader_trade = make_trade(strategy, sequence=1, side="buy", amount="0.01", price="65000", traded_at=at(2026, 10, 2))
    copied = add_trade(copy, pnl="500", finished_at=at(2026, 10, 12))
    CopiedTrade.objects.filter(pk=copied.pk).update(
        leader_trade=leader_trade, requested_amount=Decimal("0.01"), average_price=Decimal("65000")
    )
    copied.refresh_from_db()
    billing_period_run(period=month(2026, 10))
    rating = Rating.objects.create(user=follower, provider=owner.signal_provider, stars=4)
    return {
        "strategy": strategy,
        "copy": copy,
        "leader_trade": leader_trade,
        "copied": copied,
        "assessment": FeeAssessment.objects.get(copy=copy),
        "invoice": Invoice.objects.get(follower=follower),
        "payout": Payout.objects.get(payee=owner),
        "rating": rating,
        "account": copy.exchange_account,
        "provider": owner.signal_provider,
    }


def _refused(constraint: str, write) -> None:
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        write()
    assert constraint in str(refused.value)


# (what, model, key of the row in `data`, the bad values, the constraint that refuses them)
BAD_UPDATES = [
    ("leader trade amount zero", LeaderTrade, "leader_trade", {"amount": 0}, "leader_trade_amount_positive"),
    ("leader trade amount negative", LeaderTrade, "leader_trade", {"amount": Decimal("-0.01")}, "leader_trade_amount_positive"),
    ("leader trade price zero", LeaderTrade, "leader_trade", {"price": 0}, "leader_trade_price_positive"),
    ("leader trade side", LeaderTrade, "leader_trade", {"side": "hold"}, "leader_trade_side_valid"),
    ("leader trade effect", LeaderTrade, "leader_trade", {"effect": "flip"}, "leader_trade_effect_valid"),
    ("leader trade source", LeaderTrade, "leader_trade", {"source": "email"}, "leader_trade_source_valid"),
    ("leader trade fraction", LeaderTrade, "leader_trade", {"reduce_fraction": Decimal("1.5")}, "leader_trade_fraction_0_1"),
    ("copied trade filled negative", CopiedTrade, "copied", {"filled_amount": Decimal("-1")}, "copied_trade_filled_nonnegative"),
    ("copied trade status", CopiedTrade, "copied", {"status": "lost"}, "copied_trade_status_valid"),
    ("copied trade requested zero", CopiedTrade, "copied", {"requested_amount": 0}, "copied_trade_requested_positive"),
    ("copied trade price zero", CopiedTrade, "copied", {"average_price": 0}, "copied_trade_price_positive"),
    ("copied trade side", CopiedTrade, "copied", {"side": "both"}, "copied_trade_side_valid"),
    ("copied trade effect", CopiedTrade, "copied", {"effect": "flip"}, "copied_trade_effect_valid"),
    ("copied trade kind", CopiedTrade, "copied", {"kind": "manual"}, "copied_trade_kind_valid"),
    ("allocation zero", Copy, "copy", {"allocation_percent": 0}, "copy_allocation_0_100"),
    ("allocation negative", Copy, "copy", {"allocation_percent": Decimal("-5")}, "copy_allocation_0_100"),
    ("allocation over 100", Copy, "copy", {"allocation_percent": Decimal("100.01")}, "copy_allocation_0_100"),
    ("copy status", Copy, "copy", {"status": "deleted"}, "copy_status_valid"),
    ("copy sizing without its parameter", Copy, "copy", {"sizing_mode": "fixed"}, "copy_sizing_parameter_present"),
    ("strategy status", Strategy, "strategy", {"status": "deleted"}, "strategy_status_valid"),
    ("strategy capital", Strategy, "strategy", {"declared_capital": 0}, "strategy_capital_positive"),
    ("account status", ExchangeAccount, "account", {"status": "hacked"}, "exchange_account_status_valid"),
    ("provider status", SignalProvider, "provider", {"status": "vip"}, "provider_status_valid"),
    ("rating six stars", Rating, "rating", {"stars": 6}, "rating_stars_1_5"),
    ("rating zero stars", Rating, "rating", {"stars": 0}, "rating_stars_1_5"),
    ("fee total not the sum", FeeAssessment, "assessment", {"total": Decimal("1")}, "fee_assessment_total_is_sum"),
    (
        "fee negative",
        FeeAssessment,
        "assessment",
        {"performance_fee": Decimal("-1"), "total": Decimal("48")},
        "fee_assessment_fees_nonnegative",
    ),
    ("invoice status", Invoice, "invoice", {"status": "forgiven"}, "invoice_status_valid"),
    ("invoice total negative", Invoice, "invoice", {"total": Decimal("-1")}, "invoice_total_nonnegative"),
    ("payout status", Payout, "payout", {"status": "lost"}, "payout_status_valid"),
    ("payout split", Payout, "payout", {"payee_amount": Decimal("1")}, "payout_split_sums"),
]


@pytest.mark.parametrize(("_what", "model", "key", "values", "constraint"), BAD_UPDATES, ids=[row[0] for row in BAD_UPDATES])
def test_a_bad_update_that_skips_the_services_is_refused_by_the_database(data, _what, model, key, values, constraint):
    row = data[key]
    before = model.objects.filter(pk=row.pk).values().get()

    _refused(constraint, lambda: model.objects.filter(pk=row.pk).update(**values))

    assert model.objects.filter(pk=row.pk).values().get() == before


def test_a_second_copied_trade_for_the_same_copy_and_leader_trade_is_refused(data):
    copied = data["copied"]

    _refused(
        "copied_trade_once_per_pair",
        lambda: CopiedTrade.objects.create(
            copy=copied.copy,
            leader_trade=copied.leader_trade,
            sequence=copied.sequence + 100,
            follower=copied.follower,
            leader_user=copied.leader_user,
            strategy=copied.strategy,
            symbol="BTC/USDT",
            side="buy",
            effect="open",
            client_order_id=str(uuid.uuid4()),
        ),
    )
    assert copied.leader_trade_id is not None
    assert CopiedTrade.objects.filter(leader_trade=copied.leader_trade).count() == 1


def test_a_copied_trade_with_a_reused_client_order_id_is_refused(data):
    copied = data["copied"]

    _refused(
        "client_order_id",
        lambda: CopiedTrade.objects.create(
            copy=copied.copy,
            sequence=copied.sequence + 100,
            follower=copied.follower,
            leader_user=copied.leader_user,
            strategy=copied.strategy,
            symbol="BTC/USDT",
            side="buy",
            effect="open",
            client_order_id=copied.client_order_id,
        ),
    )


def test_a_second_live_copy_of_a_strategy_by_the_same_follower_is_refused(data):
    copy = data["copy"]
    fields = {
        "follower": copy.follower,
        "strategy": copy.strategy,
        "exchange_account": copy.exchange_account,
        "allocation_percent": Decimal("10"),
        "started_at": datetime(2026, 10, 1, tzinfo=UTC),
    }

    _refused("copy_one_live_per_follower_strategy", lambda: Copy.objects.create(**fields, status="paused"))
    stopped = Copy.objects.create(**fields, status="stopped")  # history is fine
    _refused("copy_one_live_per_follower_strategy", lambda: Copy.objects.filter(pk=stopped.pk).update(status="active"))


def test_a_second_fee_assessment_for_the_same_copy_and_month_is_refused(data):
    assessment = data["assessment"]
    values = FeeAssessment.objects.filter(pk=assessment.pk).values().get()
    del values["id"], values["created_at"]

    _refused("fee_assessment_once_per_period", lambda: FeeAssessment.objects.create(**values))
    assert FeeAssessment.objects.filter(copy=assessment.copy).count() == 1


def test_a_duplicate_leader_trade_inserted_by_raw_sql_is_refused(data):
    trade = data["leader_trade"]

    def raw_insert():
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO copytrade_leadertrade (strategy_id, external_id, sequence, symbol, side, amount, price, notional,
                       fee, leader_equity, effect, position_after, realized_pnl, source, exchange_order_id, traded_at, recorded_at)
                   SELECT strategy_id, external_id, sequence + 1, symbol, side, amount, price, notional, fee, leader_equity, effect,
                       position_after, realized_pnl, source, exchange_order_id, traded_at, recorded_at
                   FROM copytrade_leadertrade WHERE id = %s""",
                [trade.pk],
            )

    _refused("leader_trade_idempotent", raw_insert)


def test_a_negative_amount_written_by_raw_sql_is_refused(data):
    def raw_update():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE copytrade_copiedtrade SET filled_amount = -0.5 WHERE id = %s", [data["copied"].pk])

    _refused("copied_trade_filled_nonnegative", raw_update)
