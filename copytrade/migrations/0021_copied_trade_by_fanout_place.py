"""A leader trade's copied trades indexed with their fan-out places (issue 31): each link of a
fan-out reads its chunk of places, and on the leader trade alone read every row of the trade.
The new index serves the leader-trade lookups the old one did; it is built before the old one
is dropped."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("copytrade", "0020_copy_is_the_name"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="copiedtrade",
            index=models.Index(fields=["leader_trade", "fanout_place"], name="copied_trade_by_fanout_place"),
        ),
        migrations.AlterField(
            model_name="copiedtrade",
            name="leader_trade",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="copied_trades",
                to="copytrade.leadertrade",
            ),
        ),
    ]
