"""Three indexes of copied trades nothing needs (bench/RESULTS.md): the single-column ones on
relationship and follower, served by (relationship, sequence) and (follower, -recorded_at),
and the LIKE twin of the unique client order id.

Django's own operations for this would drop and re-add both foreign keys, and re-adding
one validates every row under a lock that stops the engine writing copied trades; on a
live table that is an outage. Here the database only drops the indexes and renames the
unique constraint (metadata, instant); the model state changes as Django's would.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "copytrade_copiedtrade"

FORWARD = f"""
DROP INDEX IF EXISTS copytrade_copiedtrade_relationship_id_3a8c81fd;
DROP INDEX IF EXISTS copytrade_copiedtrade_follower_id_e06d87ad;
DROP INDEX IF EXISTS copytrade_copiedtrade_client_order_id_46d631e7_like;
ALTER TABLE {TABLE} RENAME CONSTRAINT copytrade_copiedtrade_client_order_id_key TO copied_trade_client_order_id_unique;
"""

BACKWARD = f"""
ALTER TABLE {TABLE} RENAME CONSTRAINT copied_trade_client_order_id_unique TO copytrade_copiedtrade_client_order_id_key;
CREATE INDEX copytrade_copiedtrade_client_order_id_46d631e7_like ON {TABLE} (client_order_id varchar_pattern_ops);
CREATE INDEX copytrade_copiedtrade_follower_id_e06d87ad ON {TABLE} (follower_id);
CREATE INDEX copytrade_copiedtrade_relationship_id_3a8c81fd ON {TABLE} (relationship_id);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("copytrade", "0002_state_value_constraints"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=[
                migrations.AlterField(
                    model_name="copiedtrade",
                    name="client_order_id",
                    field=models.CharField(max_length=36),
                ),
                migrations.AlterField(
                    model_name="copiedtrade",
                    name="follower",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="copied_trades",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="copiedtrade",
                    name="relationship",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="copied_trades",
                        to="copytrade.copyrelationship",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="copiedtrade",
                    constraint=models.UniqueConstraint(fields=("client_order_id",), name="copied_trade_client_order_id_unique"),
                ),
            ],
        ),
    ]
