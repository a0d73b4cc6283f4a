"""The data migrations: 0003 (each pair's mark from the assessments made per copy, and back),
0005 (lines of written-off invoices paid late released from the payouts that closed without them)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.models import Invoice, InvoiceLine, Payout
from billing.services import payouts_run
from copytrade.models import Strategy
from tests.billing.factories import add_trade, at, make_copy, make_strategy, make_user, month

# Migrating the test database back and forth takes seconds: `make test` only.
pytestmark = pytest.mark.slow

BEFORE = [("billing", "0001_initial")]
PAIR_STATE = [("billing", "0002_fee_state_per_follower_strategy")]
DERIVED = [("billing", "0003_fee_state_from_assessments")]
LATE_PAYOUTS = [("billing", "0004_late_payments_reach_the_payee")]
LATE_LINES_RELEASED = [("billing", "0005_release_late_paid_lines")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def _legacy_assessment(apps, copy, period, net, cumulative, hwm_before, hwm_after, fee):
    """An assessment as the per-copy code made it: the copy's own cumulative P&L and mark."""
    return apps.get_model("billing", "FeeAssessment").objects.create(
        relationship_id=copy.id,  # the field's name before billing 0012
        follower_id=copy.follower_id,
        strategy_id=copy.strategy_id,
        payee_id=copy.strategy.owner_id,
        program="ai",
        period=period,
        period_net_pnl=Decimal(net),
        cumulative_pnl=Decimal(cumulative),
        hwm_before=Decimal(hwm_before),
        hwm_after=Decimal(hwm_after),
        rate_percent=Decimal("15"),
        performance_fee=Decimal(fee),
        subscription_fee_monthly=0,
        live_days=30,
        days_in_period=30,
        subscription_fee=0,
        total=Decimal(fee),
    )


@pytest.mark.deep  # a data migration's test: make soak
@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_pair_the_mark_its_copies_history_earns_and_reverses():
    # given: the data of issue 19 as the per-copy code billed it, and a pair with one copy
    # (the copies made with today's schema before it goes back: they outlive the migrations)
    leader, restarter, steady = make_user("leader"), make_user("restarter"), make_user("steady")
    strategy = make_strategy(leader, kind=Strategy.Kind.AI, override="15")
    first = make_copy(restarter, strategy, started_at=at(2026, 5, 20), ended_at=at(2026, 7, 20))
    second = make_copy(restarter, strategy, started_at=at(2026, 7, 21))
    only = make_copy(steady, strategy, started_at=at(2026, 5, 20))
    old_apps = _migrate(BEFORE)
    try:
        legacy = [
            _legacy_assessment(old_apps, first, date(2026, 6, 1), "1000", "1000", "0", "1000", "150.00"),
            _legacy_assessment(old_apps, first, date(2026, 7, 1), "-600", "400", "1000", "1000", "0"),
            # the restarted copy started again from a mark of 0 and was charged 90.00
            _legacy_assessment(old_apps, second, date(2026, 7, 1), "600", "600", "0", "600", "90.00"),
            _legacy_assessment(old_apps, only, date(2026, 6, 1), "1000", "1000", "0", "1000", "150.00"),
            _legacy_assessment(old_apps, only, date(2026, 7, 1), "-600", "400", "1000", "1000", "0"),
            _legacy_assessment(old_apps, only, date(2026, 8, 1), "300", "700", "1000", "1000", "0"),
        ]

        # when
        new_apps = _migrate(DERIVED)

        # then: the restarter's mark is the pair's (1,000 reached in June, back there at the end of July)
        states = {
            row["follower_id"]: (row["cumulative_pnl"], row["high_water_mark"], row["period"])
            for row in new_apps.get_model("billing", "FeeState").objects.values()
        }
        assert states == {
            restarter.id: (Decimal("1000"), Decimal("1000"), date(2026, 7, 1)),
            # one copy: exactly its latest assessment's cumulative P&L and mark
            steady.id: (Decimal("700"), Decimal("1000"), date(2026, 8, 1)),
        }
        FeeAssessment = new_apps.get_model("billing", "FeeAssessment")
        covered = {row.id: list(row.copies.values_list("id", flat=True)) for row in FeeAssessment.objects.all()}
        assert covered == {row.id: [row.relationship_id] for row in legacy}
        # what was billed stays as billed
        assert sorted(FeeAssessment.objects.values_list("performance_fee", flat=True)) == sorted(
            Decimal(row.performance_fee) for row in legacy
        )
        assert not FeeAssessment.objects.exclude(fee_state=None).exists()

        # when reversed, the states and links are gone and the assessments untouched
        reversed_apps = _migrate(PAIR_STATE)
        assert reversed_apps.get_model("billing", "FeeState").objects.count() == 0
        assert reversed_apps.get_model("billing", "FeeAssessment").copies.through.objects.count() == 0
        assert reversed_apps.get_model("billing", "FeeAssessment").objects.count() == len(legacy)
    finally:
        _migrate_to_latest()


def _migrate_to_latest():
    # Every app's leaf: going back to billing 0001-0002 took copytrade 0020 and what follows it
    # back too.
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def _closed_payout(payee, *, status: str, gross: str, payee_amount: str, ready_at: datetime) -> Payout:
    return Payout.objects.create(
        payee=payee,
        period=month(2026, 10),
        currency="usd",
        gross=Decimal(gross),
        payee_amount=Decimal(payee_amount),
        platform_amount=Decimal(gross) - Decimal(payee_amount),
        status=status,
        ready_at=ready_at,
    )


def _paid_line(apps, payee, follower, *, payout: Payout, fee: str, paid_at: datetime) -> InvoiceLine:
    """A performance fee line on an invoice paid at `paid_at` (rows as the code before 0004 left them)."""
    strategy = make_strategy(payee, kind=Strategy.Kind.AI, override="15")
    copy = make_copy(follower, strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 5))
    assessment = apps.get_model("billing", "FeeAssessment").objects.create(
        relationship_id=copy.id,  # the field's name before billing 0012
        follower_id=follower.id,
        strategy_id=strategy.id,
        payee_id=payee.id,
        program="ai",
        period=month(2026, 10),
        period_net_pnl=100,
        cumulative_pnl=100,
        hwm_before=0,
        hwm_after=100,
        rate_percent=15,
        performance_fee=Decimal(fee),
        subscription_fee_monthly=0,
        live_days=31,
        days_in_period=31,
        subscription_fee=0,
        total=Decimal(fee),
    )
    invoice = Invoice.objects.create(
        follower=follower, period=month(2026, 10), currency="usd", total=Decimal(fee), status=Invoice.Status.PAID, paid_at=paid_at
    )
    payee_amount = Decimal(fee) * Decimal("0.6")
    return InvoiceLine.objects.create(
        invoice=invoice,
        assessment_id=assessment.id,
        kind="performance_fee",
        description="fee",
        amount=Decimal(fee),
        payee=payee,
        program="ai",
        payee_amount=payee_amount,
        platform_amount=Decimal(fee) - payee_amount,
        payout=payout,
    )


@pytest.mark.deep  # a data migration's test: make soak
@pytest.mark.django_db(transaction=True)
def test_the_migration_releases_a_late_paid_line_from_the_payout_that_closed_without_it(settings):
    # given: as the code before 0004 left them, one leader's payout closed void before a
    # written-off invoice was paid; another's counted its line
    settings.STRIPE_API_KEY = ""
    apps = _migrate(LATE_PAYOUTS)
    try:
        closed_at = datetime(2026, 11, 1, 1, tzinfo=UTC)
        stuck_leader, paid_leader = make_user("stuck-leader"), make_user("paid-leader")
        void = _closed_payout(stuck_leader, status=Payout.Status.VOID, gross="0", payee_amount="0", ready_at=closed_at)
        stuck = _paid_line(
            apps, stuck_leader, make_user("late-payer"), payout=void, fee="30.00", paid_at=datetime(2026, 11, 12, tzinfo=UTC)
        )
        paid = _closed_payout(paid_leader, status=Payout.Status.PAID, gross="15.00", payee_amount="9.00", ready_at=closed_at)
        counted = _paid_line(
            apps, paid_leader, make_user("on-time-payer"), payout=paid, fee="15.00", paid_at=datetime(2026, 10, 31, tzinfo=UTC)
        )

        # when
        _migrate(LATE_LINES_RELEASED)

        # then: only the stuck line is released, and the next payout run pays its 18.00
        stuck.refresh_from_db()
        counted.refresh_from_db()
        assert (stuck.payout_id, counted.payout_id) == (None, paid.id)
        _migrate_to_latest()  # today's code runs on today's schema
        payouts_run()
        void.refresh_from_db()
        assert (void.status, void.payee_amount) == (Payout.Status.AWAITING_MANUAL, Decimal("18.00"))
        assert Payout.objects.get(id=paid.id).gross == Decimal("15.00")
    finally:
        _migrate_to_latest()
