"""Notifications move from marketplace to core (every app sends them): the table is taken
over as it is, then renamed to core's."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _content_type_to(apps, app_label: str, *, from_label: str) -> None:
    """Permissions hang on the content type: moving it keeps every group's and user's
    notification permissions (the curators' view_notification among them)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=app_label, model="notification").exists():
        ContentType.objects.filter(app_label=from_label, model="notification").update(app_label=app_label)


def content_type_to_core(apps, schema_editor):
    _content_type_to(apps, "core", from_label="marketplace")


def content_type_to_marketplace(apps, schema_editor):
    _content_type_to(apps, "marketplace", from_label="core")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("marketplace", "0006_provider_event_purge_switch"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("copy_paused", "Copy Paused"),
                                    ("copy_stop_loss", "Copy Stop Loss"),
                                    ("copied_trade_failed", "Copied Trade Failed"),
                                    ("account_invalid", "Account Invalid"),
                                    ("provider_application", "Provider Application"),
                                    ("provider_decision", "Provider Decision"),
                                    ("provider_suspended", "Provider Suspended"),
                                    ("circuit_breaker", "Circuit Breaker"),
                                    ("verification_flag", "Verification Flag"),
                                    ("invoice", "Invoice"),
                                    ("payout", "Payout"),
                                ],
                                max_length=32,
                            ),
                        ),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField(blank=True, default="")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("read_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="notifications", to=settings.AUTH_USER_MODEL
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["user", "read_at"], name="notification_unread_by_user")],
                        "db_table": "marketplace_notification",
                    },
                ),
            ],
        ),
        migrations.AlterModelTable(name="notification", table=None),
        migrations.RunPython(content_type_to_core, content_type_to_marketplace),
    ]
