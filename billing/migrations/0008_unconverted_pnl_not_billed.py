"""P&L that copytrade/migrations/0004 could not convert (a quote with no peg, from before P&L
was converted at fill time) was in that quote, not in the billing currency: it is not billed
as if it were. Copied trades not yet assessed keep it in `pnl_quote` and count 0 in the
billing currency; trades already assessed stay as they were billed."""

from django.db import migrations


def unconverted_pnl_not_billed(apps, schema_editor):
    CopiedTrade = apps.get_model("copytrade", "CopiedTrade")
    CopiedTrade.objects.filter(quote_rate__isnull=True, fee_assessment_link__isnull=True).exclude(pnl_usd=0).update(pnl_usd=0)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_assessment_payee_share"),
        ("copytrade", "0004_pnl_in_quote_and_billing_currency"),
    ]

    operations = [
        migrations.RunPython(unconverted_pnl_not_billed, migrations.RunPython.noop),
    ]
