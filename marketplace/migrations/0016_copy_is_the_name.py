"""Terms and invitations name their copy `copy` (issue 25; copytrade 0020 renamed the model)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0015_invited_copies"),
        ("copytrade", "0020_copy_is_the_name"),
    ]

    operations = [
        migrations.RenameField("CopyFeeTerms", "relationship", "copy"),
        migrations.RenameField("InvitedCopy", "relationship", "copy"),
        # The constraints, indexes and orderings that name the field: PostgreSQL renamed the
        # column under them, so only Django's record of them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterModelOptions(
                    name="copyfeeterms",
                    options={"ordering": ["copy_id", "effective_from"], "verbose_name_plural": "copy fee terms"},
                ),
                migrations.RemoveConstraint(
                    model_name="copyfeeterms",
                    name="copy_fee_terms_once_per_month",
                ),
                migrations.AddConstraint(
                    model_name="copyfeeterms",
                    constraint=models.UniqueConstraint(fields=("copy", "effective_from"), name="copy_fee_terms_once_per_month"),
                ),
            ]
        ),
    ]
