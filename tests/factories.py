"""factory_boy factories: the one place tests build users, exchange accounts, strategies,
providers, copies and trades straight into the database.

Each test folder's support module (tests/marketplace/support.py, tests/billing/factories.py,
tests/web/support.py) keeps only its scenarios (a pending provider with a record, a billed
month, a leader with stored metrics) and builds them from these. Tests that exercise the
engine build through the services instead (tests/copytrade), which these never replace.

Passwords follow one rule, `password_of(username)`, so a browser test can log in as anyone
a factory made.
"""

from datetime import UTC, datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from copytrade.models import CopiedTrade, Copy, LeaderTrade, Strategy
from core.names import name_key
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider


def password_of(username: str) -> str:
    return f"{username}-pass-123"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.LazyAttribute(lambda user: password_of(user.username))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # create_user hashes the password (the test settings' fast hasher).
        return model_class._default_manager.create_user(*args, **kwargs)


def make_user(username: str, **extra):
    """A user named `username` with the password `password_of(username)`."""
    return UserFactory(username=username, **extra)


class ExchangeAccountFactory(DjangoModelFactory):
    """A paper account unless told otherwise (no keys, no exchange)."""

    class Meta:
        model = ExchangeAccount

    owner = factory.SubFactory(UserFactory)
    exchange_id = "paper"
    label = factory.Sequence(lambda n: f"paper {n}")


class StrategyFactory(DjangoModelFactory):
    """A running, public manual strategy with 10,000 of declared capital."""

    class Meta:
        model = Strategy

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Strategy {n}")
    declared_capital = Decimal("10000")
    is_public_leader = True


class SignalProviderFactory(DjangoModelFactory):
    """An approved provider named after its user, charging nothing unless told."""

    class Meta:
        model = SignalProvider

    user = factory.SubFactory(UserFactory)
    display_name = factory.LazyAttribute(lambda provider: f"{provider.user.username} signals")
    display_name_key = factory.LazyAttribute(lambda provider: name_key(provider.display_name))
    status = SignalProvider.Status.APPROVED


class CopyFactory(DjangoModelFactory):
    """An active copy of 10 % (1,000 of capital and equity) on a paper account of its follower's,
    its fee terms recorded as `copy_start` records them: the strategy's offer when it is made
    (`fee_terms=False` leaves them out)."""

    class Meta:
        model = Copy
        skip_postgeneration_save = True

    follower = factory.SubFactory(UserFactory)
    strategy = factory.SubFactory(StrategyFactory)
    exchange_account = factory.LazyAttribute(lambda copy: ExchangeAccountFactory(owner=copy.follower))
    allocation_percent = Decimal("10")
    copy_capital = Decimal("1000")
    # A copy starts with its capital as equity and peak (copy_start does the same).
    copy_equity = factory.LazyAttribute(lambda copy: copy.copy_capital)
    peak_equity = factory.LazyAttribute(lambda copy: copy.copy_capital)
    status = Copy.Status.ACTIVE
    started_at = datetime(2026, 1, 1, tzinfo=UTC)

    @factory.post_generation
    def fee_terms(copy, create, extracted, **kwargs):
        if create and extracted is not False:
            from marketplace.services import copy_terms_record

            copy_terms_record(copy=copy)


class LeaderTradeFactory(DjangoModelFactory):
    """A leader's buy of 0.1 BTC at 60,000 recorded through the API."""

    class Meta:
        model = LeaderTrade

    strategy = factory.SubFactory(StrategyFactory)
    sequence = factory.Sequence(lambda n: n + 1)
    external_id = factory.LazyAttribute(lambda trade: f"t{trade.sequence}")
    symbol = "BTC/USDT"
    side = "buy"
    amount = Decimal("0.1")
    price = Decimal("60000")
    notional = factory.LazyAttribute(lambda trade: trade.amount * trade.price)
    leader_equity = factory.LazyAttribute(lambda trade: trade.strategy.declared_capital or Decimal("10000"))
    effect = LeaderTrade.Effect.OPEN
    position_after = Decimal("0")
    source = Strategy.Source.API
    traded_at = datetime(2026, 1, 2, 12, tzinfo=UTC)


class CopiedTradeFactory(DjangoModelFactory):
    """A filled closing copied trade of its copy (set `pnl_billing` for its realised P&L)."""

    class Meta:
        model = CopiedTrade

    copy = factory.SubFactory(CopyFactory)
    kind = CopiedTrade.Kind.MIRROR
    sequence = factory.Sequence(lambda n: n + 1)
    follower = factory.LazyAttribute(lambda trade: trade.copy.follower)
    leader_user = factory.LazyAttribute(lambda trade: trade.copy.strategy.owner)
    strategy = factory.LazyAttribute(lambda trade: trade.copy.strategy)
    symbol = "BTC/USDT"
    side = "sell"
    effect = "close"
    pnl_billing = Decimal("0")
    status = CopiedTrade.Status.FILLED
    client_order_id = factory.Faker("uuid4")
