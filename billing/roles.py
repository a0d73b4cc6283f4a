"""The billing role (billing/migrations/0006_billing_role.py, and 0011: the audit trail): who may see and move money."""

import importlib

from core.roles import role_sync

BILLING_GROUP = "billing"
# A provider's payouts: previewing one (the provider itself, or this) and creating one.
PAYOUT_VIEW_PERMISSION = "billing.view_payout"
PAYOUT_CREATE_PERMISSION = "billing.add_payout"


def billing_group():
    """The `billing` group with exactly its permissions (the migration defines them; this puts
    the group back where a database was flushed, and is how tools like the demo find it)."""
    role = importlib.import_module("billing.migrations.0011_billing_role_reads_audit_trail")
    return role_sync(name=BILLING_GROUP, permissions=role.PERMISSIONS)
