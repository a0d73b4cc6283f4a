import pytest

from copytrade.models import Strategy
from tests.billing.factories import make_strategy, make_user


@pytest.fixture
def leader(db):
    return make_user("leader")


@pytest.fixture
def ai_strategy(leader) -> Strategy:
    return make_strategy(leader, kind=Strategy.Kind.AI, override="15")
