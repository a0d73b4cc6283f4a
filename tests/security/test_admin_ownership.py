"""Issue 32, item 5: who a row belongs to is read-only in admin once the row exists. The
billing role moved a Stripe customer by reassigning `BillingAccount.user`."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from billing.models import BillingAccount
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"core", "exchanges", "copytrade", "marketplace", "billing"}
ADMINS = sorted(
    ((model, model_admin) for model, model_admin in admin.site._registry.items() if model._meta.app_label in PROJECT_APPS),
    key=lambda pair: pair[0]._meta.label,
)


def _links(model) -> list[str]:
    return [field.name for field in model._meta.concrete_fields if field.many_to_one or field.one_to_one]


@pytest.mark.parametrize("model,model_admin", ADMINS, ids=lambda value: getattr(getattr(value, "_meta", None), "label", ""))
def test_no_admin_lets_anyone_change_who_an_existing_row_belongs_to(model, model_admin):
    superuser = make_user("root", is_staff=True, is_superuser=True)
    request = RequestFactory().get("/admin/")
    request.user = superuser
    # Unsaved, with an id no row has: what the change page of an existing row is built from.
    row = model(pk=10**12)

    editable = model_admin.has_change_permission(request, row)
    read_only = set(model_admin.get_readonly_fields(request, row))

    assert not editable or not [name for name in _links(model) if name not in read_only]


def test_the_billing_role_cannot_move_a_billing_account_to_another_user(client, billing_operator):
    alice, mallory = make_user("alice"), make_user("mallory")
    account = BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")
    client.force_login(billing_operator)
    url = f"/admin/billing/billingaccount/{account.pk}/change/"

    page = client.get(url)
    response = client.post(url, {"user": mallory.pk, "stripe_connect_account_id": "acct_123"})

    account.refresh_from_db()
    assert page.status_code == 200
    assert 'name="user"' not in page.content.decode()
    assert response.status_code == 302
    assert account.user == alice
    assert account.stripe_connect_account_id == "acct_123"
