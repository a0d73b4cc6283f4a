"""Django admin for copy trading: every page renders for staff, trades are read-only, and
the webhook secret never appears."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from copytrade.models import CopiedTrade, FollowerPosition, LeaderPosition, LeaderTrade, Strategy
from copytrade.services.copies import copy_start
from tests.copytrade import paper_account, record_fan_outs, signal_only_strategy, submit

pytestmark = pytest.mark.django_db

MODELS = ["strategy", "leadertrade", "leaderposition", "copy", "copiedtrade", "followerposition"]


@pytest.fixture
def rows(owner, follower, simulated_binance, monkeypatch):
    record_fan_outs(monkeypatch)
    strategy = signal_only_strategy(owner)
    submit(strategy, "t1", "buy", amount="0.01")
    copy = copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=paper_account(follower).pk, allocation_percent=Decimal("10")
    )
    trade = LeaderTrade.objects.get()
    copied = CopiedTrade.objects.create(
        copy=copy,
        leader_trade=trade,
        sequence=1,
        follower=follower,
        leader_user=owner,
        strategy=strategy,
        symbol="BTC/USDT",
        side="buy",
        effect="open",
        client_order_id=uuid.uuid4().hex,
        status="skipped",
        reason="below_exchange_minimum",
    )
    position = FollowerPosition.objects.create(copy=copy, symbol="BTC/USDT", quantity=Decimal("0.001"))
    return {
        "strategy": strategy,
        "leadertrade": trade,
        "leaderposition": LeaderPosition.objects.get(),
        "copy": copy,
        "copiedtrade": copied,
        "followerposition": position,
    }


def _admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser(staff):
    staff.is_superuser = True
    staff.save()
    return staff


@pytest.fixture
def curator(stranger):
    stranger.is_staff = True
    stranger.save()
    stranger.groups.add(Group.objects.get(name="curators"))
    return stranger


@pytest.mark.parametrize("model", MODELS)
def test_the_changelist_and_change_pages_render_without_the_webhook_secret(superuser, rows, model):
    client = _admin_client(superuser)
    secret = rows["strategy"].webhook_secret

    pages = [
        client.get(f"/admin/copytrade/{model}/"),
        client.get(f"/admin/copytrade/{model}/", {"q": "BTC"}),
        client.get(f"/admin/copytrade/{model}/{rows[model].pk}/change/"),
    ]

    for page in pages:
        assert page.status_code == 200
        assert secret not in page.content.decode()


@pytest.mark.parametrize("model", MODELS[1:])
def test_trades_copies_and_positions_are_read_only(superuser, rows, model):
    client = _admin_client(superuser)

    change_page = client.get(f"/admin/copytrade/{model}/{rows[model].pk}/change/").content.decode()

    assert 'name="_save"' not in change_page
    assert client.get(f"/admin/copytrade/{model}/add/").status_code == 403
    assert client.post(f"/admin/copytrade/{model}/{rows[model].pk}/delete/", {"post": "yes"}).status_code == 403


def test_staff_may_change_a_strategys_curation_flags_but_not_its_secret_nor_a_copied_strategys_fee(superuser, rows):
    strategy = rows["strategy"]
    secret = strategy.webhook_secret
    form = {
        "name": strategy.name,
        "kind": strategy.kind,
        "description": "",
        "status": "running",
        "is_public_leader": "on",
        "verified_badge": "on",
        "copy_override_percent": "12.50",
        "webhook_secret": "stolen",
    }

    response = _admin_client(superuser).post(f"/admin/copytrade/strategy/{strategy.pk}/change/", form)

    assert response.status_code == 302
    strategy.refresh_from_db()
    # The strategy has been copied: its override decides what the copies pay, so it stays.
    assert (strategy.verified_badge, strategy.accepting_copies, strategy.copy_override_percent) == (True, False, Decimal("15"))
    assert strategy.webhook_secret == secret


def test_staff_cannot_add_or_delete_a_strategy_in_admin(superuser, rows):
    client = _admin_client(superuser)

    assert client.get("/admin/copytrade/strategy/add/").status_code == 403
    assert client.post(f"/admin/copytrade/strategy/{rows['strategy'].pk}/delete/", {"post": "yes"}).status_code == 403
    assert Strategy.objects.filter(pk=rows["strategy"].pk).exists()


def test_a_curator_views_strategies_and_leader_trades_but_not_followers_copies(curator, rows):
    client = _admin_client(curator)

    assert client.get("/admin/copytrade/strategy/").status_code == 200
    assert client.get(f"/admin/copytrade/strategy/{rows['strategy'].pk}/change/").status_code == 200
    assert client.get("/admin/copytrade/leadertrade/").status_code == 200
    assert client.get("/admin/copytrade/copy/").status_code == 403
    assert client.get("/admin/copytrade/copiedtrade/").status_code == 403


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(follower, rows):
    response = _admin_client(follower).get("/admin/copytrade/strategy/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
