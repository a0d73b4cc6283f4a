"""Display names compared by a normalised key (core.names.name_key), step 1: the key column,
filled for every profile; 0007 makes it unique. Names that already read the same keep their
names; each later one gets a key made unique by its id."""

from django.db import migrations, models

import core.names


def fill_display_name_keys(apps, schema_editor):
    Profile = apps.get_model("core", "Profile")
    taken = set()
    for profile in Profile.objects.order_by("id").only("id", "display_name"):
        key = core.names.name_key(profile.display_name)
        Profile.objects.filter(id=profile.id).update(display_name_key=key if key not in taken else f"{key} #{profile.id}")
        taken.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_notification_kind_fee_terms"),
    ]

    operations = [
        migrations.AddField(
            model_name="profile",
            name="display_name_key",
            field=models.CharField(default="", editable=False, max_length=200),
        ),
        migrations.RunPython(fill_display_name_keys, migrations.RunPython.noop),
    ]
