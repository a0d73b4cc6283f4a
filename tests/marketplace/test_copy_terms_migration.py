"""marketplace 0009: every existing copy records the terms it is billed today."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from copytrade.models import Strategy
from marketplace.models import CopyFeeTerms
from tests.billing.factories import at, make_copy, make_strategy, make_user

# Migrating the test database back and forth takes seconds: `make test` only.
pytestmark = pytest.mark.slow

BEFORE = [("marketplace", "0008_curator_role")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.deep  # a data migration's test: make soak
@pytest.mark.django_db(transaction=True)
def test_existing_copies_record_the_terms_they_are_billed_today():
    # given: copies of an AI strategy, a provider's strategy and a non-provider's manual one, from
    # before copies recorded terms (made with today's schema before it goes back: going back to
    # marketplace 0008 takes copytrade 0020 back too, and the copies outlive the migrations)
    follower = make_user("ana")
    provider_user = make_user("alice")
    ai = make_copy(
        follower, make_strategy(make_user("bot"), kind=Strategy.Kind.AI, override="12.5"), started_at=at(2026, 8, 20), fee_terms=False
    )
    manual = make_copy(follower, make_strategy(provider_user, kind=Strategy.Kind.MANUAL), started_at=at(2026, 9, 3), fee_terms=False)
    plain = make_copy(follower, make_strategy(make_user("bob"), kind=Strategy.Kind.MANUAL), started_at=at(2026, 9, 4), fee_terms=False)
    _migrate(BEFORE)
    try:
        # The provider as the schema then had it (later migrations add columns the model has now).
        old_provider = MigrationExecutor(connection).loader.project_state(BEFORE).apps.get_model("marketplace", "SignalProvider")
        old_provider.objects.create(
            user_id=provider_user.pk,
            display_name="alice",
            status="approved",
            subscription_fee_monthly=Decimal("29.00"),
            performance_fee_percent=Decimal("20"),
        )

        # when
        _migrate_to_latest()

        # then
        rows = {row.copy_id: row for row in CopyFeeTerms.objects.all()}
        as_recorded = {
            copy_id: (row.effective_from.isoformat(), row.program, row.rate_percent, row.subscription_fee_monthly, row.payee_share)
            for copy_id, row in rows.items()
        }
        assert as_recorded == {
            ai.id: ("2026-08-01", "ai", Decimal("12.5"), Decimal("0"), Decimal("0.6")),
            manual.id: ("2026-09-01", "marketplace", Decimal("20"), Decimal("29"), Decimal("0.8")),
            plain.id: ("2026-09-01", "marketplace", Decimal("0"), Decimal("0"), Decimal("0.8")),
        }
    finally:
        _migrate_to_latest()
