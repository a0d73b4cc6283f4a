"""The high-water mark of each (follower, strategy) pair, from the assessments made per copy.

Before 0002 each copy kept its own cumulative P&L and mark, so a stopped and restarted copy
started again from zero. The pair's state is what the pair rule gives for the same history:
the net P&L of every assessed month of every copy of the pair, added up in month order, the
mark rising to the cumulative P&L whenever it is higher. For a pair with a single copy that is
exactly its latest assessment's cumulative P&L and mark. What was billed stays as billed: no
assessment, invoice or payout is changed. Each assessment is also linked to the one copy it
covered.

Reversing removes the pair states and the links (0002's reverse then drops their tables).
"""

from decimal import Decimal
from itertools import groupby

from django.db import migrations

ZERO = Decimal(0)


def fee_states_from_assessments(apps, schema_editor):
    FeeAssessment = apps.get_model("billing", "FeeAssessment")
    FeeState = apps.get_model("billing", "FeeState")
    CoveredCopy = FeeAssessment.copies.through

    rows = (
        FeeAssessment.objects.order_by("follower_id", "strategy_id", "period", "id")
        .values_list("id", "relationship_id", "follower_id", "strategy_id", "period", "period_net_pnl")
        .iterator(chunk_size=2000)
    )
    states, links = [], []
    for (follower_id, strategy_id), assessments in groupby(rows, key=lambda row: (row[2], row[3])):
        cumulative = mark = ZERO
        period = None
        for period, in_month in groupby(assessments, key=lambda row: row[4]):  # noqa: B007 (the last month is the state's period, below)
            for assessment_id, relationship_id, *_, period_net_pnl in in_month:
                cumulative += period_net_pnl
                links.append(CoveredCopy(feeassessment_id=assessment_id, copyrelationship_id=relationship_id))
            # The mark is taken at month ends, as the monthly assessments take it.
            mark = max(mark, cumulative)
        states.append(
            FeeState(follower_id=follower_id, strategy_id=strategy_id, cumulative_pnl=cumulative, high_water_mark=mark, period=period)
        )
    FeeState.objects.bulk_create(states, batch_size=2000)
    CoveredCopy.objects.bulk_create(links, batch_size=2000)


def fee_states_remove(apps, schema_editor):
    FeeAssessment = apps.get_model("billing", "FeeAssessment")
    FeeAssessment.objects.exclude(fee_state=None).update(fee_state=None)
    FeeAssessment.copies.through.objects.all().delete()
    apps.get_model("billing", "FeeState").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_fee_state_per_follower_strategy"),
    ]

    operations = [
        migrations.RunPython(fee_states_from_assessments, fee_states_remove),
    ]
