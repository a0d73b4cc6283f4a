"""Fee terms recorded per copy (marketplace.terms). Every existing copy records the terms it
is billed today (the same rule `billing.selectors.fee_terms` applied: an AI strategy's override %,
else its owner's provider terms, else nothing), from the month it started: no invoice changes."""

from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def record_terms_of_existing_copies(apps, schema_editor):
    CopyRelationship = apps.get_model("copytrade", "CopyRelationship")
    CopyFeeTerms = apps.get_model("marketplace", "CopyFeeTerms")
    SignalProvider = apps.get_model("marketplace", "SignalProvider")
    providers = {provider.user_id: provider for provider in SignalProvider.objects.all()}
    rows = []
    for copy in CopyRelationship.objects.select_related("strategy").filter(fee_terms__isnull=True).order_by("id"):
        strategy = copy.strategy
        if strategy.kind == "ai":
            program, rate, subscription = "ai", strategy.copy_override_percent, Decimal("0")
        elif strategy.owner_id in providers:
            provider = providers[strategy.owner_id]
            program, rate, subscription = "marketplace", provider.performance_fee_percent, provider.subscription_fee_monthly
        else:
            program, rate, subscription = "marketplace", Decimal("0"), Decimal("0")
        rows.append(
            CopyFeeTerms(
                relationship=copy,
                effective_from=copy.started_at.date().replace(day=1),
                program=program,
                rate_percent=rate,
                subscription_fee_monthly=subscription,
                payee_share=Decimal(settings.BILLING_PAYOUT_SHARES[program]["payee"]),
                currency=settings.BILLING_CURRENCY.lower(),
            )
        )
    CopyFeeTerms.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("copytrade", "0003_copied_trade_fewer_indexes"),
        ("marketplace", "0008_curator_role"),
    ]

    operations = [
        migrations.AlterField(
            model_name="providerevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("apply", "Apply"),
                    ("reapply", "Reapply"),
                    ("approve", "Approve"),
                    ("reject", "Reject"),
                    ("suspend", "Suspend"),
                    ("reinstate", "Reinstate"),
                    ("circuit_breaker", "Circuit Breaker"),
                    ("verification_flag", "Verification Flag"),
                    ("verification", "Verification"),
                    ("review_cleared", "Review Cleared"),
                    ("terms", "Terms"),
                ],
                max_length=32,
            ),
        ),
        migrations.CreateModel(
            name="CopyFeeTerms",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("effective_from", models.DateField()),
                ("program", models.CharField(choices=[("ai", "Ai"), ("marketplace", "Marketplace")], max_length=16)),
                ("rate_percent", models.DecimalField(decimal_places=2, max_digits=5)),
                ("subscription_fee_monthly", models.DecimalField(decimal_places=8, max_digits=20)),
                ("payee_share", models.DecimalField(decimal_places=4, max_digits=5)),
                ("currency", models.CharField(max_length=3)),
                ("notified_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "relationship",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="fee_terms", to="copytrade.copyrelationship"
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "copy fee terms",
                "ordering": ["relationship_id", "effective_from"],
                "constraints": [
                    models.UniqueConstraint(fields=("relationship", "effective_from"), name="copy_fee_terms_once_per_month"),
                    models.CheckConstraint(condition=models.Q(("program__in", ["ai", "marketplace"])), name="copy_fee_terms_program_valid"),
                    models.CheckConstraint(
                        condition=models.Q(("rate_percent__gte", 0), ("rate_percent__lte", 100)), name="copy_fee_terms_rate_0_100"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("subscription_fee_monthly__gte", 0)), name="copy_fee_terms_subscription_nonnegative"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("payee_share__gte", 0), ("payee_share__lte", 1)), name="copy_fee_terms_share_0_1"
                    ),
                ],
            },
        ),
        migrations.RunPython(record_terms_of_existing_copies, migrations.RunPython.noop),
    ]
