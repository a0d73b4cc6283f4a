"""Provider display names unique once normalised, step 2 (0010 filled the keys): the name's
rules and the key's uniqueness."""

from django.db import migrations, models

import core.names


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0010_provider_display_name_key"),
    ]

    operations = [
        migrations.AlterField(
            model_name="signalprovider",
            name="display_name",
            field=models.CharField(max_length=100, validators=[core.names.validate_printable_name, core.names.validate_single_script_name]),
        ),
        migrations.AddConstraint(
            model_name="signalprovider",
            constraint=models.UniqueConstraint(fields=("display_name_key",), name="provider_display_name_unique"),
        ),
    ]
