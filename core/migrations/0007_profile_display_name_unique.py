"""Display names compared by a normalised key, step 2 (0006 filled the keys): the key is
unique, and replaces the case-insensitive uniqueness of the name it covers."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_profile_display_name_key"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="profile",
            constraint=models.UniqueConstraint(fields=("display_name_key",), name="profile_display_name_unique_key"),
        ),
        migrations.RemoveConstraint(
            model_name="profile",
            name="profile_display_name_unique_ci",
        ),
    ]
