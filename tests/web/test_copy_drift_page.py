"""A copy's drift on its pages (issue 27): what differs between the copy's record and its
exchange account, in words, and the drift policy chosen on the copy's page."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from copytrade.models import Copy, PositionDrift
from tests.marketplace.support import make_copy
from tests.web.support import make_leader, make_member, make_provider, password_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db):
    return make_member("mia", "Mia")


@pytest.fixture
def leader(db):
    alice = make_member("alice", "Alice Trades")
    make_provider(alice, performance_percent="15", subscription="29")
    return make_leader(alice, name="Steady Breakouts", copiers=1)


def _drifted(member, leader) -> Copy:
    copy = make_copy(member, leader)
    PositionDrift.objects.create(
        copy=copy,
        symbol="BTC/USDT",
        recorded=Decimal("0.05"),
        actual=Decimal("0.07"),
        difference=Decimal("0.02"),
        account_recorded=Decimal("0.05"),
        account_actual=Decimal("0.07"),
        found_at=datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
        action=PositionDrift.Action.NOTIFIED,
    )
    return copy


def test_the_copy_page_says_what_differs_and_what_was_done(client, member, leader):
    copy = _drifted(member, leader)
    client.force_login(member)

    detail = client.get(f"/copies/{copy.pk}/").content.decode()
    cards = client.get("/copies/").content.decode()

    assert "Your copy recorded 0.05 BTC in BTC/USDT, but &#x27;" in detail and "holds 0.02 BTC more" in detail
    assert "the account was traded outside the copies" in detail
    assert "You were told; nothing was traded." in detail
    assert 'name="drift_policy" value="notify"' in detail and "checked" in detail
    assert "holds a different position from what this copy recorded" in cards and f"/copies/{copy.pk}/#drift" in cards


def test_the_exchange_accounts_page_says_an_account_was_traded_outside_its_copies(client, member, leader):
    _drifted(member, leader)
    client.force_login(member)

    html = client.get("/settings/exchange-accounts/").content.decode()

    assert "Traded outside its copies" in html


def test_the_drift_policy_is_chosen_on_the_copy_page(client, member, leader):
    copy = _drifted(member, leader)
    client.force_login(member)

    saved = client.post(f"/copies/{copy.pk}/drift-policy/", {"drift_policy": "resync"}, follow=True)
    refused = client.post(f"/copies/{copy.pk}/drift-policy/", {"drift_policy": "ignore"}, follow=True)

    assert "the next check of your account follows the new choice" in saved.content.decode()
    assert "Choose what the platform does" in refused.content.decode()
    assert Copy.objects.get(pk=copy.pk).drift_policy == Copy.DriftPolicy.RESYNC


def test_someone_elses_drift_policy_is_not_found(client, member, leader):
    theirs = make_copy(make_member("oscar", "Oscar"), leader)
    client.force_login(member)

    response = client.post(f"/copies/{theirs.pk}/drift-policy/", {"drift_policy": "adopt"})

    assert response.status_code == 404
    assert Copy.objects.get(pk=theirs.pk).drift_policy == Copy.DriftPolicy.NOTIFY


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_copy_page_with_a_drift_at_both_widths(browsing, member, leader):
    copy = _drifted(member, leader)
    page = browsing.page
    browsing.open("/accounts/login/")
    page.get_by_label("Email or username").fill("mia")
    page.locator("#id_password").fill(password_of("mia"))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(browsing.base_url + "/")

    browsing.open(f"/copies/{copy.pk}/")
    assert "traded outside the copies" in page.inner_text("#drift")
    browsing.look("copy-drift")

    page.get_by_label("Take my account's figure as the copy's position").check()
    page.locator("#drift").get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/copies/{copy.pk}/")
    assert Copy.objects.get(pk=copy.pk).drift_policy == Copy.DriftPolicy.ADOPT
