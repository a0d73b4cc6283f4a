"""P&L that copytrade/migrations/0004 could not convert (a quote with no peg, from before P&L
was converted at fill time) was in that quote, not in the billing currency: it is not billed
as if it were. Copied trades not yet assessed keep it in `pnl_quote` and count 0 in the
billing currency; trades already assessed stay as they were billed."""

from django.db import migrations


def unconverted_pnl_not_billed(apps, schema_editor):
    # In SQL, because the column may already be called pnl_billing: copytrade 0010 renamed it
    # without depending on this migration (a dependency would make taking billing back take
    # copytrade's later migrations back too), so a fresh database may apply that one first.
    copied_trades = apps.get_model("copytrade", "CopiedTrade")._meta.db_table
    assessed_trades = apps.get_model("billing", "AssessedTrade")._meta.db_table
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        columns = {column.name for column in connection.introspection.get_table_description(cursor, copied_trades)}
    pnl = schema_editor.quote_name("pnl_usd" if "pnl_usd" in columns else "pnl_billing")
    copied_trades, assessed_trades = schema_editor.quote_name(copied_trades), schema_editor.quote_name(assessed_trades)
    schema_editor.execute(
        f"UPDATE {copied_trades} SET {pnl} = 0 WHERE quote_rate IS NULL AND {pnl} <> 0 "
        f"AND NOT EXISTS (SELECT 1 FROM {assessed_trades} WHERE {assessed_trades}.copied_trade_id = {copied_trades}.id)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_assessment_payee_share"),
        ("copytrade", "0004_pnl_in_quote_and_billing_currency"),
    ]

    operations = [
        migrations.RunPython(unconverted_pnl_not_billed, migrations.RunPython.noop),
    ]
