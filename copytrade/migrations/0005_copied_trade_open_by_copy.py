# The open copied trades indexed by copy and sequence instead of by status and age
# (copytrade/models.py says why). Built and dropped concurrently: the table takes a row per
# follower per leader trade and must keep taking them while the index builds.

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("copytrade", "0004_pnl_in_quote_and_billing_currency"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="copiedtrade",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "executing"])),
                fields=["relationship", "sequence"],
                name="copied_trade_open_by_copy",
            ),
        ),
        RemoveIndexConcurrently(model_name="copiedtrade", name="copied_trade_open_by_age"),
    ]
