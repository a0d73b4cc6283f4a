"""The six callers of the security tests and a small world they act on.

Roles: anonymous; the follower (copies the leader's strategy on a paper account); another
follower (copies it too, on an account of their own); the leader (owns the strategies and
is an approved signal provider); a curator (staff in the curators group, as in admin);
the billing role (staff in the billing group); plain staff (is_staff, no permission).
"""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from copytrade.models import Copy
from copytrade.services.copies import copy_start
from core.models import Notification
from marketplace.models import SignalProvider
from marketplace.services import strategy_invitation_create
from tests.copytrade import paper_account, record_fan_outs, signal_only_strategy
from tests.marketplace.support import make_curator, make_provider, make_user

ROLES = ("anonymous", "follower", "other_follower", "leader", "curator", "billing", "staff")


@dataclass
class World:
    users: dict
    ids: dict


@pytest.fixture
def world(db, owner, follower, staff, billing_operator, simulated_binance, monkeypatch) -> World:
    record_fan_outs(monkeypatch)
    leader = owner
    other_follower = make_user("other_follower")
    curator = make_curator()
    provider = make_provider(leader, status=SignalProvider.Status.APPROVED)

    strategy = signal_only_strategy(leader, name="Public")
    other = signal_only_strategy(leader, name="Other")
    third = signal_only_strategy(leader, name="Third")
    account = paper_account(follower)
    spare_account = paper_account(follower, label="Spare")
    copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    paused = copy_start(follower=follower, strategy_id=third.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    Copy.objects.filter(pk=paused.pk).update(status="paused", pause_reason="follower")
    other_account = paper_account(other_follower)
    copy_start(follower=other_follower, strategy_id=strategy.pk, exchange_account_id=other_account.pk, allocation_percent=Decimal("20"))
    notification = Notification.objects.create(user=follower, kind=Notification.Kind.INVOICE, title="Your invoice")

    users = {
        "anonymous": None,
        "follower": follower,
        "other_follower": other_follower,
        "leader": leader,
        "curator": curator,
        "billing": billing_operator,
        "staff": staff,
    }
    ids = {
        "strategy": strategy.pk,
        "other": other.pk,
        "account": account.pk,
        "spare_account": spare_account.pk,
        "copy": copy.pk,
        "paused": paused.pk,
        "provider": provider.pk,
        "notification": notification.pk,
        "invitation": strategy_invitation_create(owner=leader, strategy_id=other.pk).pk,
    }
    return World(users=users, ids=ids)
