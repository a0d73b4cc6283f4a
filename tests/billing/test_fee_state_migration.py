"""Migration 0003: each pair's mark from the assessments made per copy, and back."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from copytrade.models import Strategy
from tests.billing.factories import at, make_copy, make_strategy, make_user

BEFORE = [("billing", "0001_initial")]
PAIR_STATE = [("billing", "0002_fee_state_per_follower_strategy")]
DERIVED = [("billing", "0003_fee_state_from_assessments")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def _legacy_assessment(apps, relationship, period, net, cumulative, hwm_before, hwm_after, fee):
    """An assessment as the per-copy code made it: the copy's own cumulative P&L and mark."""
    return apps.get_model("billing", "FeeAssessment").objects.create(
        relationship_id=relationship.id, follower_id=relationship.follower_id, strategy_id=relationship.strategy_id,
        payee_id=relationship.strategy.owner_id, program="ai", period=period, period_net_pnl=Decimal(net),
        cumulative_pnl=Decimal(cumulative), hwm_before=Decimal(hwm_before), hwm_after=Decimal(hwm_after),
        rate_percent=Decimal("15"), performance_fee=Decimal(fee), subscription_fee_monthly=0, live_days=30,
        days_in_period=30, subscription_fee=0, total=Decimal(fee),
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_pair_the_mark_its_copies_history_earns_and_reverses():
    # given: the data of issue 19 as the per-copy code billed it, and a pair with one copy
    old_apps = _migrate(BEFORE)
    try:
        leader, restarter, steady = make_user("leader"), make_user("restarter"), make_user("steady")
        strategy = make_strategy(leader, kind=Strategy.Kind.AI, override="15")
        first = make_copy(restarter, strategy, started_at=at(2026, 5, 20), ended_at=at(2026, 7, 20))
        second = make_copy(restarter, strategy, started_at=at(2026, 7, 21))
        only = make_copy(steady, strategy, started_at=at(2026, 5, 20))
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
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("billing"))
