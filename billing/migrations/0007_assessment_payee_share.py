"""Each assessment carries the payee's share of its fees, from the copy's recorded terms
(marketplace.CopyFeeTerms), so a later change of settings.BILLING_PAYOUT_SHARES moves no
split already agreed. Existing assessments get the share their lines were split at: the
configured share of their program."""

from decimal import Decimal

from django.conf import settings
from django.db import migrations, models


def record_shares(apps, schema_editor):
    FeeAssessment = apps.get_model("billing", "FeeAssessment")
    for program, shares in settings.BILLING_PAYOUT_SHARES.items():
        FeeAssessment.objects.filter(program=program, payee_share__isnull=True).update(payee_share=Decimal(shares["payee"]))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_billing_role"),
    ]

    operations = [
        migrations.AddField(
            model_name="feeassessment",
            name="payee_share",
            field=models.DecimalField(decimal_places=4, max_digits=5, null=True),
        ),
        migrations.RunPython(record_shares, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="feeassessment",
            name="payee_share",
            field=models.DecimalField(decimal_places=4, max_digits=5),
        ),
    ]
