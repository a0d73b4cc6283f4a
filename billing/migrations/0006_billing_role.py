"""The billing role: the staff who run the money side, and only that.

They read the ledger (fee assessments and the trades they cover, each follower's fee state
with each strategy, invoices and their lines,
Stripe events), create a provider's payout for a billed month (`add` on payouts: the
payouts API), record the transaction hash of a payout paid by hand (`change` on payouts:
the one editable field) and set a payee's Stripe Connect account after onboarding
(`change` on billing accounts). They do not curate providers (marketplace/migrations,
the curators' role).
"""

from django.db import migrations

from core.roles import role_sync

BILLING = "billing"
PERMISSIONS = [
    ("billing", "feeassessment", ["view"]),
    ("billing", "feestate", ["view"]),
    ("billing", "assessedtrade", ["view"]),
    ("billing", "invoice", ["view"]),
    ("billing", "invoiceline", ["view"]),
    ("billing", "payout", ["view", "add", "change"]),
    ("billing", "billingaccount", ["view", "change"]),
    ("billing", "stripeevent", ["view"]),
]


def create_billing_role(apps, schema_editor):
    role_sync(name=BILLING, permissions=PERMISSIONS, apps=apps)


def remove_billing_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=BILLING).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_release_late_paid_lines"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_billing_role, remove_billing_role)]
