"""Column names that say what the value is (issue 25): the sizes were always in the market's
quote currency (BTC for ETH/BTC), and the converted P&L is in settings.BILLING_CURRENCY."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("copytrade", "0009_reasons_unbillable_quote_and_multiplier_cap")]

    operations = [
        migrations.RenameField("copiedtrade", "leader_size_usd", "leader_size_quote"),
        migrations.RenameField("copiedtrade", "follower_size_usd", "follower_size_quote"),
        migrations.RenameField("copiedtrade", "pnl_usd", "pnl_billing"),
    ]
