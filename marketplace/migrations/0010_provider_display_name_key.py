"""Provider display names unique once normalised, step 1: a key column (core.names.name_key)
filled for every provider; 0011 makes it unique. Where two providers' names already read the same, the
earlier keeps the name; each later one keeps its name too, under a key made unique by its
id, and is flagged for the curators to ask for another name."""

from django.conf import settings
from django.db import migrations, models

import core.names


def fill_display_name_keys(apps, schema_editor):
    SignalProvider = apps.get_model("marketplace", "SignalProvider")
    taken = set()
    for provider in SignalProvider.objects.order_by("id").only("id", "display_name"):
        key = core.names.name_key(provider.display_name)
        update = {"display_name_key": key}
        if key in taken:
            update = {
                "display_name_key": f"{key} #{provider.id}",
                "needs_review": True,
                "review_reason": "Its display name reads the same as an earlier provider's: ask it to choose another.",
            }
        taken.add(key)
        SignalProvider.objects.filter(id=provider.id).update(**update)


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0009_copy_fee_terms"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="signalprovider",
            name="display_name_key",
            field=models.CharField(default="", editable=False, max_length=400),
        ),
        migrations.RunPython(fill_display_name_keys, migrations.RunPython.noop),
    ]
