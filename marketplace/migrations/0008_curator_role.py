"""The curators' role, exactly what the job needs.

A curator decides on providers: reads an application and its record (strategies, leader
trades, metrics, verification findings, the event log), approves, rejects, suspends,
reinstates or clears a review flag (`curate`, with a reason, through the services that log
every decision), accepts a verification mismatch after review (`change` on verifications:
the resolve action) and removes abusive ratings. A curator edits nothing of a provider's
own profile (no `change` on providers: the provider owns it, and an edit would bypass the
event log) and sees no follower's money or accounts: invoices, payouts, copies, copied
trades, positions, exchange accounts and notifications are not curation (billing has a
role of its own, billing/migrations).
"""

from django.db import migrations

from core.roles import role_sync

CURATORS = "curators"
PERMISSIONS = [
    ("marketplace", "signalprovider", ["view", "curate"]),
    ("marketplace", "providerevent", ["view"]),
    ("marketplace", "rating", ["view", "delete"]),
    ("marketplace", "providermetrics", ["view"]),
    ("marketplace", "strategymetrics", ["view"]),
    ("marketplace", "tradeverification", ["view", "change"]),
    ("copytrade", "strategy", ["view"]),
    ("copytrade", "leadertrade", ["view"]),
]
# What 0004 gave them (the notification permission has moved to core with its model).
PREVIOUS = [
    ("marketplace", "signalprovider", ["view", "change", "curate"]),
    ("marketplace", "providerevent", ["view"]),
    ("marketplace", "rating", ["view", "delete"]),
    ("marketplace", "providermetrics", ["view"]),
    ("marketplace", "strategymetrics", ["view"]),
    ("marketplace", "tradeverification", ["view", "change"]),
    ("core", "notification", ["view"]),
    ("copytrade", "strategy", ["view"]),
    ("copytrade", "leadertrade", ["view"]),
]


def curators_exactly(apps, schema_editor):
    role_sync(name=CURATORS, permissions=PERMISSIONS, apps=apps)


def curators_as_before(apps, schema_editor):
    role_sync(name=CURATORS, permissions=PREVIOUS, apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0007_notification_moved_to_core"),
        ("core", "0001_notification"),
        ("copytrade", "0001_initial"),
    ]

    operations = [migrations.RunPython(curators_exactly, curators_as_before)]
