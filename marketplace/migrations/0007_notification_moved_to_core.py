"""Notifications now belong to core (core 0001 took the table over)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0006_provider_event_purge_switch"),
        ("core", "0001_notification"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Notification")]),
    ]
