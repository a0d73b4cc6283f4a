"""`AssessedTrade.pnl_usd` held the billing currency's P&L, whatever that currency is (issue 25)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0009_assessment_per_terms_within_a_pair")]

    operations = [migrations.RenameField("assessedtrade", "pnl_usd", "pnl_billing")]
