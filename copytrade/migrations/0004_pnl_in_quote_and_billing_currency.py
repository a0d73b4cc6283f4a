"""A copied trade's P&L in its quote currency, the rate to the billing currency at its fill,
and `pnl_usd` as the P&L in the billing currency (copytrade/currency.py).

Existing rows: `pnl_quote` is what `pnl_usd` held (it was always the quote currency's) and the
quote comes from the symbol. A pegged quote (settings.BILLING_CURRENCY_PEGS: USDT and the
like) records its peg, so `pnl_usd` stays. No rate can be known now for any other quote:
`quote_rate` stays null, and billing/migrations/0008 takes such P&L out of what is still to
be billed (history already billed is not rewritten).
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models import F, Func, Value
from django.db.models.functions import Upper


def _split_part(expression, delimiter: str, index: int) -> Func:
    return Func(expression, Value(delimiter), Value(index), function="split_part", output_field=models.CharField())


def record_quotes_and_pegs(apps, schema_editor):
    CopiedTrade = apps.get_model("copytrade", "CopiedTrade")
    # "ETH/BTC" -> BTC, "BTC/USDT:USDT" -> USDT
    CopiedTrade.objects.update(pnl_quote=F("pnl_usd"), quote_currency=Upper(_split_part(_split_part(F("symbol"), ":", 1), "/", 2)))
    for currency, peg in settings.BILLING_CURRENCY_PEGS.items():
        CopiedTrade.objects.filter(quote_currency=currency.upper()).update(quote_rate=peg)


class Migration(migrations.Migration):
    dependencies = [
        ("copytrade", "0003_copied_trade_fewer_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="copiedtrade",
            name="pnl_quote",
            field=models.DecimalField(decimal_places=8, default=0, max_digits=20),
        ),
        migrations.AddField(
            model_name="copiedtrade",
            name="quote_currency",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
        migrations.AddField(
            model_name="copiedtrade",
            name="quote_rate",
            field=models.DecimalField(blank=True, decimal_places=12, max_digits=30, null=True),
        ),
        migrations.RunPython(record_quotes_and_pegs, migrations.RunPython.noop),
    ]
