"""A fee assessment names its copy `copy` (issue 25; copytrade 0020 renamed the model)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0011_billing_role_reads_audit_trail"),
        ("copytrade", "0020_copy_is_the_name"),
    ]

    operations = [
        migrations.RenameField("FeeAssessment", "relationship", "copy"),
        # The constraints, indexes and orderings that name the field: PostgreSQL renamed the
        # column under them, so only Django's record of them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterModelOptions(
                    name="feeassessment",
                    options={"ordering": ["period", "copy_id"]},
                ),
                migrations.RemoveConstraint(
                    model_name="feeassessment",
                    name="fee_assessment_once_per_period",
                ),
                migrations.AddConstraint(
                    model_name="feeassessment",
                    constraint=models.UniqueConstraint(fields=("copy", "period"), name="fee_assessment_once_per_period"),
                ),
            ]
        ),
    ]
