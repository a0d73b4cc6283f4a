import pytest

from billing.models import BillingAccount
from copytrade.models import Strategy
from tests.billing.factories import make_strategy, make_user


@pytest.fixture
def leader(db):
    return make_user("leader")


@pytest.fixture
def ai_strategy(leader) -> Strategy:
    return make_strategy(leader, kind=Strategy.Kind.AI, override="15")


@pytest.fixture
def connected_leader(leader):
    """The leader, with a Stripe Connect account their payouts are transferred to."""
    BillingAccount.objects.create(user=leader, stripe_connect_account_id="acct_leader123")
    return leader
