"""The staff roles: each group holds exactly the permissions its job needs, and admin shows
each role its pages and refuses the rest (docs/SECURITY.md, "Staff roles", says the same)."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client

from billing.roles import BILLING_GROUP, billing_group
from marketplace.services import CURATORS_GROUP, curators_group
from tests.marketplace.support import make_curator

pytestmark = pytest.mark.django_db

CURATOR_PERMISSIONS = {
    ("marketplace", "view_signalprovider"),
    ("marketplace", "curate_signalprovider"),
    ("marketplace", "view_providerevent"),
    ("marketplace", "view_rating"),
    ("marketplace", "delete_rating"),
    ("marketplace", "view_providermetrics"),
    ("marketplace", "view_strategymetrics"),
    ("marketplace", "view_tradeverification"),
    ("marketplace", "change_tradeverification"),
    ("copytrade", "view_strategy"),
    ("copytrade", "view_leadertrade"),
}
BILLING_PERMISSIONS = {
    ("billing", "view_feeassessment"),
    ("billing", "view_feestate"),
    ("billing", "view_assessedtrade"),
    ("billing", "view_invoice"),
    ("billing", "view_invoiceline"),
    ("billing", "view_payout"),
    ("billing", "add_payout"),
    ("billing", "change_payout"),
    ("billing", "view_billingaccount"),
    ("billing", "change_billingaccount"),
    ("billing", "view_stripeevent"),
    ("core", "view_auditentry"),
}

# What each role's admin index should open; everything else in admin answers 403.
CURATOR_PAGES = [
    "marketplace/signalprovider",
    "marketplace/providerevent",
    "marketplace/rating",
    "marketplace/providermetrics",
    "marketplace/strategymetrics",
    "marketplace/tradeverification",
    "copytrade/strategy",
    "copytrade/leadertrade",
]
BILLING_PAGES = [
    "billing/feeassessment",
    "billing/feestate",
    "billing/invoice",
    "billing/payout",
    "billing/billingaccount",
    "billing/stripeevent",
    "core/auditentry",
]
NOBODYS_BUT_SUPERUSERS = [
    "copytrade/copy",
    "copytrade/copiedtrade",
    "copytrade/followerposition",
    "copytrade/leaderposition",
    "exchanges/exchangeaccount",
    "exchanges/paperorder",
    "exchanges/candle",
    "core/notification",
    "auth/user",
    "auth/group",
]


def _permissions(group: Group) -> set[tuple[str, str]]:
    return set(group.permissions.values_list("content_type__app_label", "codename"))


def test_the_migrations_give_curators_exactly_the_curation_permissions():
    assert _permissions(Group.objects.get(name=CURATORS_GROUP)) == CURATOR_PERMISSIONS


def test_the_migrations_give_the_billing_role_exactly_the_ledger_and_payout_permissions():
    assert _permissions(Group.objects.get(name=BILLING_GROUP)) == BILLING_PERMISSIONS


def test_a_flushed_role_comes_back_with_the_same_permissions():
    Group.objects.filter(name__in=[CURATORS_GROUP, BILLING_GROUP]).delete()

    assert _permissions(curators_group()) == CURATOR_PERMISSIONS
    assert _permissions(billing_group()) == BILLING_PERMISSIONS


def _statuses(user, pages) -> dict[str, int]:
    client = Client()
    client.force_login(user)
    return {page: client.get(f"/admin/{page}/").status_code for page in pages}


def test_a_curator_sees_providers_and_their_record_but_no_money_copies_or_accounts():
    curator = make_curator()

    assert _statuses(curator, CURATOR_PAGES) == dict.fromkeys(CURATOR_PAGES, 200)
    refused = BILLING_PAGES + NOBODYS_BUT_SUPERUSERS
    assert _statuses(curator, refused) == dict.fromkeys(refused, 403)


def test_the_billing_role_sees_the_ledger_but_curates_nothing(billing_operator):
    assert _statuses(billing_operator, BILLING_PAGES) == dict.fromkeys(BILLING_PAGES, 200)
    refused = CURATOR_PAGES + NOBODYS_BUT_SUPERUSERS
    assert _statuses(billing_operator, refused) == dict.fromkeys(refused, 403)


def test_the_security_doc_describes_the_roles_these_tests_hold():
    security = (Path(settings.BASE_DIR) / "docs" / "SECURITY.md").read_text()
    roles = " ".join(security.split("## Staff roles", 1)[1].split("\n## ", 1)[0].split())

    assert "no invoices, payouts, copies, copied trades, positions, exchange accounts or notifications" in roles
    assert "creates a provider's payout" in roles and "It does not curate." in roles
