"""The billing role also reads the audit trail (core.AuditEntry): who marked which payout
paid, set which Connect account, changed which fee terms."""

import importlib

from django.db import migrations

from core.roles import role_sync

BILLING = "billing"
PERMISSIONS = [*importlib.import_module("billing.migrations.0006_billing_role").PERMISSIONS, ("core", "auditentry", ["view"])]
PREVIOUS = importlib.import_module("billing.migrations.0006_billing_role").PERMISSIONS


def give(apps, schema_editor):
    role_sync(name=BILLING, permissions=PERMISSIONS, apps=apps)


def take_back(apps, schema_editor):
    role_sync(name=BILLING, permissions=PREVIOUS, apps=apps)


class Migration(migrations.Migration):
    dependencies = [("billing", "0010_assessed_trade_pnl_billing"), ("core", "0011_audit_trail")]

    operations = [migrations.RunPython(give, take_back)]
