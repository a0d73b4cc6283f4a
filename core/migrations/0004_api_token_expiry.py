"""API tokens expire (issue 18): tokens made before this get the lifetime from their creation."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def expire_existing_tokens(apps, schema_editor):
    ApiToken = apps.get_model("core", "ApiToken")
    ApiToken.objects.update(expires_at=F("created_at") + timedelta(days=settings.API_TOKEN_LIFETIME_DAYS))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_notification_group"),
    ]

    operations = [
        migrations.AddField(model_name="apitoken", name="expires_at", field=models.DateTimeField(null=True)),
        migrations.RunPython(expire_existing_tokens, migrations.RunPython.noop),
        migrations.AlterField(model_name="apitoken", name="expires_at", field=models.DateTimeField()),
    ]
