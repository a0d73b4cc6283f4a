"""Lines of written-off invoices paid late, stuck in payouts that closed without them.

Before 0004 an invoice marked uncollectible and then paid stayed in the payout that had closed
without it (void at 0.00, or ready/paid with the other invoices' money), so its payee was
never paid. Such a line is on a paid invoice, was paid after its payout closed, and its payout's
gross is short by exactly the lines like it. Only then is it released: the next payout run puts
it in a reopened or a new payout and pays it once. A payout whose figures do not add up that
way is left as it is.

Reversing changes nothing: putting a released line back would hide its money again.
"""

from django.db import migrations
from django.db.models import Sum


def late_paid_lines_release(apps, schema_editor):
    Payout = apps.get_model("billing", "Payout")
    InvoiceLine = apps.get_model("billing", "InvoiceLine")
    for payout in Payout.objects.exclude(status="pending").exclude(ready_at=None).iterator():
        paid = InvoiceLine.objects.filter(payout=payout, invoice__status="paid")
        late = paid.filter(invoice__paid_at__gt=payout.ready_at)
        if not late.exists():
            continue
        counted = paid.exclude(id__in=late.values("id")).aggregate(gross=Sum("amount"))["gross"] or 0
        if counted == payout.gross:
            late.update(payout=None)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_late_payments_reach_the_payee"),
    ]

    operations = [
        migrations.RunPython(late_paid_lines_release, migrations.RunPython.noop),
    ]
