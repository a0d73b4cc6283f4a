"""Column names that say what the value is (issue 25): the sizes were always in the market's
quote currency (BTC for ETH/BTC), and the converted P&L is in settings.BILLING_CURRENCY."""

from django.db import migrations


class Migration(migrations.Migration):
    # After billing's data migrations that read the old names (billing 0008).
    dependencies = [
        ("copytrade", "0009_reasons_unbillable_quote_and_multiplier_cap"),
        ("billing", "0009_assessment_per_terms_within_a_pair"),
    ]

    operations = [
        migrations.RenameField("copiedtrade", "leader_size_usd", "leader_size_quote"),
        migrations.RenameField("copiedtrade", "follower_size_usd", "follower_size_quote"),
        migrations.RenameField("copiedtrade", "pnl_usd", "pnl_billing"),
    ]
