"""The monthly run in our ledger: assessments (HWM + subscription), invoices, payouts (no Stripe key)."""

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.models import AssessedTrade, FeeAssessment, Invoice, InvoiceLine, Payout
from billing.services import billing_period_run, payouts_run, stripe_event_handle
from copytrade.models import CopiedTrade, Strategy
from devtools.stripe_standin import build_event
from tests.billing.factories import add_trade, at, make_copy, make_provider, make_strategy, make_user, month

OCTOBER = month(2026, 10)


@pytest.fixture(autouse=True)
def _ledger_only(settings):
    settings.STRIPE_API_KEY = ""


def _pay(invoice: Invoice) -> None:
    """Stripe's invoice.paid for one of our invoices (as the webhook hands it over once verified)."""
    stripe_event_handle(
        event=build_event(
            event_type="invoice.paid",
            obj={"id": invoice.stripe_invoice_id or "in_ledger", "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}},
        )
    )


def test_seed_000_example_a_100_dollar_profit_at_15_percent_bills_15_and_pays_the_leader_9(leader, follower, ai_strategy):
    # given: seed 000 §3, follower profit $100 on a 15 % override
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 15))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 10))

    # when
    billing_period_run(period=OCTOBER)

    # then
    assessment = FeeAssessment.objects.get(copy=copy, period=OCTOBER)
    assert (assessment.program, assessment.rate_percent, assessment.performance_fee) == ("ai", Decimal("15"), Decimal("15.00"))
    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    (line,) = invoice.lines.all()
    assert (invoice.total, invoice.status) == (Decimal("15.00"), Invoice.Status.DRAFT)
    assert (line.amount, line.payee_id, line.payee_amount, line.platform_amount) == (
        Decimal("15.00"),
        leader.id,
        Decimal("9.00"),
        Decimal("6.00"),
    )

    # when the follower pays, the daily run settles the leader's payout
    _pay(invoice)
    payouts_run()

    payout = Payout.objects.get(payee=leader, period=OCTOBER)
    assert (payout.gross, payout.payee_amount, payout.platform_amount) == (Decimal("15.00"), Decimal("9.00"), Decimal("6.00"))
    # No Connect account: a curator pays by hand and records the transaction hash.
    assert payout.status == Payout.Status.AWAITING_MANUAL


def test_seed_001_a_provider_gets_80_percent_of_a_subscription_plus_a_performance_fee(follower):
    # given: a provider charging $49/month and 20 % of profit; the copy is live all October
    provider_user = make_user("provider")
    make_provider(provider_user, subscription="49.00", performance_percent="20")
    strategy = make_strategy(provider_user, kind=Strategy.Kind.MANUAL)
    copy = make_copy(follower, strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="500", finished_at=at(2026, 10, 20))

    billing_period_run(period=OCTOBER)
    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    _pay(invoice)
    payouts_run()

    lines = {line.kind: line for line in invoice.lines.all()}
    assert lines["performance_fee"].amount == Decimal("100.00")
    assert lines["subscription"].amount == Decimal("49.00")
    assert invoice.total == Decimal("149.00")
    assert (lines["performance_fee"].payee_amount, lines["subscription"].payee_amount) == (Decimal("80.00"), Decimal("39.20"))
    payout = Payout.objects.get(payee=provider_user, period=OCTOBER)
    assert (payout.gross, payout.payee_amount, payout.platform_amount) == (Decimal("149.00"), Decimal("119.20"), Decimal("29.80"))


def test_the_high_water_mark_bills_200_0_0_60_over_four_months_at_20_percent(leader, follower):
    strategy = make_strategy(leader, kind=Strategy.Kind.AI, override="20")
    copy = make_copy(follower, strategy, started_at=at(2025, 12, 20))
    monthly_pnl = {1: "1000", 2: "-600", 3: "400", 4: "500"}
    for number, amount in monthly_pnl.items():
        add_trade(copy, pnl=amount, finished_at=at(2026, number, 15))

    for number in monthly_pnl:
        billing_period_run(period=month(2026, number))

    rows = list(
        FeeAssessment.objects.filter(copy=copy)
        .order_by("period")
        .values_list("period_net_pnl", "cumulative_pnl", "hwm_before", "hwm_after", "performance_fee")
    )
    assert rows == [
        (Decimal("1000"), Decimal("1000"), Decimal("0"), Decimal("1000"), Decimal("200.00")),
        (Decimal("-600"), Decimal("400"), Decimal("1000"), Decimal("1000"), Decimal("0")),
        (Decimal("400"), Decimal("800"), Decimal("1000"), Decimal("1000"), Decimal("0")),
        (Decimal("500"), Decimal("1300"), Decimal("1000"), Decimal("1300"), Decimal("60.00")),
    ]
    # A month with nothing due still gets its (zero) invoice, recorded as settled and never sent.
    february = Invoice.objects.get(follower=follower, period=month(2026, 2))
    assert (february.total, february.status, february.lines.count()) == (Decimal("0"), Invoice.Status.PAID, 0)


def test_the_fee_is_allocated_over_the_winning_trades_and_marked_paid_once_the_invoice_is(leader, follower, ai_strategy):
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    big_win = add_trade(copy, pnl="300", finished_at=at(2026, 10, 2))
    loss = add_trade(copy, pnl="-100", finished_at=at(2026, 10, 3))
    small_win = add_trade(copy, pnl="100.01", finished_at=at(2026, 10, 4))

    billing_period_run(period=OCTOBER)

    # 15 % of 300.01 = 45.0015 → 45.00, over 300 : 100.01 = 33.749… : 11.250…; the
    # cent left after rounding down goes to the larger remainder.
    for trade in (big_win, loss, small_win):
        trade.refresh_from_db()
    assert (big_win.override_fee_charged, loss.override_fee_charged, small_win.override_fee_charged) == (
        Decimal("33.75"),
        Decimal("0"),
        Decimal("11.25"),
    )
    assert big_win.fee_paid_at is None

    _pay(Invoice.objects.get(follower=follower, period=OCTOBER))

    big_win.refresh_from_db()
    loss.refresh_from_db()
    assert big_win.fee_paid_at is not None
    assert loss.fee_paid_at is None


def test_a_trade_recorded_after_its_month_was_billed_is_billed_the_next_month_once(leader, follower, ai_strategy):
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 5))
    billing_period_run(period=OCTOBER)
    late = add_trade(copy, pnl="200", finished_at=at(2026, 10, 31, hour=23))

    billing_period_run(period=OCTOBER)

    october = FeeAssessment.objects.get(copy=copy, period=OCTOBER)
    assert october.performance_fee == Decimal("15.00")
    assert not AssessedTrade.objects.filter(copied_trade=late).exists()

    billing_period_run(period=month(2026, 11))

    november = FeeAssessment.objects.get(copy=copy, period=month(2026, 11))
    assert (november.period_net_pnl, november.performance_fee) == (Decimal("200"), Decimal("30.00"))
    assert AssessedTrade.objects.get(copied_trade=late).assessment == november


def test_a_subscription_is_prorated_by_the_days_the_copy_was_live(follower):
    provider_user = make_user("provider")
    make_provider(provider_user, subscription="31.00", performance_percent="10")
    strategy = make_strategy(provider_user, kind=Strategy.Kind.MANUAL)
    make_copy(follower, strategy, started_at=at(2026, 10, 22, hour=18))

    billing_period_run(period=OCTOBER)

    (line,) = Invoice.objects.get(follower=follower, period=OCTOBER).lines.all()
    assert (line.kind, line.amount) == ("subscription", Decimal("10.00"))


def _ledger_snapshot() -> dict:
    return {
        "assessments": list(FeeAssessment.objects.order_by("id").values()),
        "assessed": list(AssessedTrade.objects.order_by("id").values()),
        "invoices": list(Invoice.objects.order_by("id").values()),
        "lines": list(InvoiceLine.objects.order_by("id").values()),
        "payouts": list(Payout.objects.order_by("id").values()),
        "trades": list(CopiedTrade.objects.order_by("id").values("id", "override_fee_charged", "fee_paid_at")),
    }


trade_pnls = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=1), st.integers(min_value=0, max_value=2), st.decimals(min_value=-5000, max_value=5000, places=2)
    ),
    min_size=0,
    max_size=12,
)


@pytest.mark.slow
@pytest.mark.django_db
@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    trades=trade_pnls,
    override=st.decimals(min_value=0, max_value=30, places=2),
    subscription=st.decimals(min_value=0, max_value=500, places=2),
)
def test_billing_any_months_twice_changes_nothing_and_every_invoice_equals_its_lines(trades, override, subscription):
    with transaction.atomic():
        # given: two followers, one copying an AI strategy, one a provider's strategy
        ai_leader, provider_user = make_user("p-leader"), make_user("p-provider")
        make_provider(provider_user, subscription=str(subscription), performance_percent="20")
        strategies = [make_strategy(ai_leader, override=str(override)), make_strategy(provider_user, kind=Strategy.Kind.MANUAL)]
        followers = [make_user("p-follower-a"), make_user("p-follower-b")]
        copies = [make_copy(followers[index], strategies[index], started_at=at(2026, 1, 10)) for index in range(2)]
        for copy_index, month_index, amount in trades:
            add_trade(copies[copy_index], pnl=str(amount), finished_at=at(2026, 2 + month_index, 14))

        # when: each month billed once, then all of them again
        for number in (2, 3, 4):
            billing_period_run(period=month(2026, number))
        first = _ledger_snapshot()
        for number in (2, 3, 4):
            billing_period_run(period=month(2026, number))

        # then
        assert _ledger_snapshot() == first
        for invoice in Invoice.objects.all():
            assert invoice.total == sum((line.amount for line in invoice.lines.all()), Decimal("0"))
        for assessment in FeeAssessment.objects.all():
            if assessment.cumulative_pnl <= assessment.hwm_before:
                assert assessment.performance_fee == 0
        # Each trade's profit is counted by exactly one assessment.
        assert AssessedTrade.objects.count() == len(trades)
        transaction.set_rollback(True)
