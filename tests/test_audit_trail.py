"""The audit trail (issue 30): every staff action and change to money is appended with who,
when, before and after; no entry can be changed or deleted (the model refuses, and so does
the database); the billing role and superusers read it in the admin, nobody else."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.utils import InternalError
from django.test import Client

from billing.models import BillingAccount
from billing.services import payout_record_manual
from copytrade.services.copies import copy_update
from core.audit import audit_record
from core.models import AppendOnlyError, AuditEntry
from marketplace.models import SignalProvider
from marketplace.services import provider_terms_update, provider_transition
from tests.billing.ledger import october_ledger
from tests.factories import make_user
from tests.marketplace.support import make_copy, make_curator, make_provider, make_strategy

pytestmark = pytest.mark.django_db

TX_HASH = "0x" + "ab" * 32


def _last(action) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).latest("id")


def test_an_entry_cannot_be_changed_or_deleted_through_the_orm(follower):
    entry = audit_record(action=AuditEntry.Action.ROLE_CHANGED, target=follower, before={"a": 1}, after={"a": 2})

    entry.after = {"a": 3}
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(after={})
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()


@pytest.mark.parametrize("statement", ["UPDATE core_auditentry SET after = '{}'", "DELETE FROM core_auditentry"])
def test_the_database_refuses_to_change_or_delete_an_entry(follower, statement):
    audit_record(action=AuditEntry.Action.ROLE_CHANGED, target=follower)

    with pytest.raises(InternalError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEntry.objects.count() == 1


def test_a_payout_marked_paid_by_hand_is_recorded_with_its_hash(staff):
    payout = october_ledger()["payout"]

    payout_record_manual(payout_id=payout.pk, tx_hash=TX_HASH)

    entry = _last(AuditEntry.Action.PAYOUT_PAID)
    assert (entry.target_type, entry.target_id) == ("billing.payout", str(payout.pk))
    assert entry.before == {"status": "awaiting_manual"}
    assert entry.after == {"status": "paid", "tx_hash": TX_HASH, "amount": "55.11000000", "currency": "usd"}


def test_a_payout_marked_paid_in_the_admin_names_the_staff_member(billing_operator):
    payout = october_ledger()["payout"]
    client = Client()
    client.force_login(billing_operator)

    client.post(f"/admin/billing/payout/{payout.pk}/change/", {"tx_hash": TX_HASH})

    assert _last(AuditEntry.Action.PAYOUT_PAID).actor_name == "billing"


def test_setting_a_payees_connect_account_in_the_admin_is_recorded_before_and_after(billing_operator, owner):
    account = BillingAccount.objects.create(user=owner, stripe_connect_account_id="acct_old")
    client = Client()
    client.force_login(billing_operator)

    response = client.post(f"/admin/billing/billingaccount/{account.pk}/change/", {"stripe_connect_account_id": "acct_new"})

    assert response.status_code == 302
    entry = _last(AuditEntry.Action.CONNECT_ACCOUNT_SET)
    assert entry.actor_name == "billing"
    assert entry.before == {"stripe_connect_account_id": "acct_old"}
    assert entry.after == {"stripe_connect_account_id": "acct_new", "payee": owner.pk}
    # And the admin's own log of the change is in the trail too.
    assert _last(AuditEntry.Action.ADMIN_CHANGE).target_type == "billing.billingaccount"


def test_a_role_given_and_taken_is_recorded(follower):
    group = Group.objects.create(name="curators-test")

    follower.groups.add(group)
    follower.groups.remove(group)

    given, taken = AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGED).order_by("id")
    assert (given.before, given.after) == ({"groups": []}, {"groups": ["curators-test"]})
    assert (taken.before, taken.after) == ({"groups": ["curators-test"]}, {"groups": []})


def test_staff_status_given_is_recorded_but_a_sign_in_is_not(follower):
    follower.is_staff = True
    follower.save()
    follower.save(update_fields=["last_login"])

    [entry] = AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGED)
    assert (entry.before, entry.after) == ({"is_staff": False}, {"is_staff": True})


def test_a_curators_decision_is_recorded_with_the_reason(owner):
    curator = make_curator()
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)

    provider_transition(provider_id=provider.pk, action="approve", actor=curator, reason="Audited statements.")

    entry = _last(AuditEntry.Action.PROVIDER_DECIDED)
    assert entry.actor_name == "curator"
    assert entry.before == {"status": "pending"}
    assert entry.after == {"status": "approved", "decision": "approve", "reason": "Audited statements."}


def test_fee_terms_changed_are_recorded_before_and_after(owner):
    provider = make_provider(owner, performance_fee_percent=Decimal("20"), subscription_fee_monthly=Decimal("29"))

    provider_terms_update(
        provider_id=provider.pk, actor=owner, performance_fee_percent=Decimal("30"), subscription_fee_monthly=Decimal("29")
    )

    entry = _last(AuditEntry.Action.FEE_TERMS_CHANGED)
    assert entry.actor_name == "owner"
    assert (entry.before, entry.after) == ({"performance_fee_percent": "20.00"}, {"performance_fee_percent": "30"})


def test_copy_settings_changed_are_recorded_by_whom(follower, owner):
    copy = make_copy(follower, make_strategy(owner, name="Swing"))

    copy_update(follower=follower, copy_id=copy.pk, data={"max_slippage_percent": Decimal("2.5")})

    entry = _last(AuditEntry.Action.COPY_SETTINGS_CHANGED)
    assert (entry.actor_name, entry.target_type, entry.target_id) == ("follower", "copytrade.copy", str(copy.pk))
    assert (entry.before, entry.after) == ({"max_slippage_percent": "1.00"}, {"max_slippage_percent": "2.5"})


def test_the_billing_role_and_superusers_read_the_trail_and_nobody_else_does(billing_operator, staff):
    audit_record(action=AuditEntry.Action.ROLE_CHANGED, target=staff, after={"is_staff": True})
    superuser = make_user("root", is_staff=True, is_superuser=True)
    curator = make_curator()

    def status(user):
        client = Client()
        client.force_login(user)
        return client.get("/admin/core/auditentry/").status_code

    assert (status(billing_operator), status(superuser), status(curator), status(staff)) == (200, 200, 403, 403)
    client = Client()
    client.force_login(superuser)
    entry = AuditEntry.objects.filter(target_id=str(staff.pk)).get()
    assert client.get(f"/admin/core/auditentry/{entry.pk}/change/").status_code == 200
    assert client.post(f"/admin/core/auditentry/{entry.pk}/delete/").status_code == 403


def test_the_api_lists_the_trail_to_the_billing_role_newest_first_and_filtered(billing_operator, follower, client_for):
    audit_record(action=AuditEntry.Action.ROLE_CHANGED, target=follower, before={"is_staff": False}, after={"is_staff": True})
    payout_entry = audit_record(action=AuditEntry.Action.PAYOUT_PAID, target=("billing.payout", 7), after={"status": "paid"})

    everything = client_for(billing_operator).get("/api/audit/")
    payouts = client_for(billing_operator).get("/api/audit/", {"action": "payout_paid"})
    refused = client_for(follower).get("/api/audit/")

    assert everything.status_code == 200
    assert [row["action"] for row in everything.json()["results"]][:2] == ["payout_paid", "role_changed"]
    assert payouts.json()["results"] == [
        {
            "id": payout_entry.pk,
            "at": payouts.json()["results"][0]["at"],
            "actor_user_id": None,
            "actor_name": "",
            "action": "payout_paid",
            "action_text": "a payout was marked paid",
            "target_type": "billing.payout",
            "target_id": "7",
            "before": {},
            "after": {"status": "paid"},
        }
    ]
    assert refused.status_code == 403
