"""A follower's copies over the API net of what they pay: gross P&L, fees invoiced, this
month's fees as if it ended now, and net, each checked against figures worked out by hand."""

import calendar
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from billing.services import fee_assessment_create, invoice_create
from copytrade.models import Copy
from tests.billing.factories import make_copy, make_provider, make_strategy, make_user
from tests.factories import CopiedTradeFactory

BASE = "/api/copy-trading"
CENT = Decimal("0.01")


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _previous_month_start(moment: datetime) -> datetime:
    return _month_start(_month_start(moment) - timedelta(days=1))


def _subscription_so_far(monthly: Decimal, now: datetime) -> Decimal:
    """A copy live since the 1st has been live today.day days of the month's days."""
    days = calendar.monthrange(now.year, now.month)[1]
    return (monthly * now.day / days).quantize(CENT, rounding=ROUND_HALF_UP)


@pytest.fixture
def provider_strategy(db):
    """A provider charging 20 % of new profit and 29 USD a month."""
    provider = make_user("provider")
    make_provider(provider, subscription="29", performance_percent="20")
    return make_strategy(provider, kind="manual", name="Alice Swing")


def _trade(copy: Copy, *, pnl_quote: str, rate: str, finished_at: datetime):
    pnl_quote, rate = Decimal(pnl_quote), Decimal(rate)
    Copy.objects.filter(pk=copy.pk).update(realized_pnl=copy.realized_pnl + pnl_quote)
    copy.refresh_from_db()
    return CopiedTradeFactory(
        copy=copy,
        quote_currency="USDT",
        pnl_quote=pnl_quote,
        quote_rate=rate,
        pnl_billing=(pnl_quote * rate).quantize(CENT),
        finished_at=finished_at,
    )


def _copy_billed_last_month(follower, strategy, *, pnl: str, now: datetime):
    """A copy since the first of last month, with one closed trade then, and last month billed."""
    last_month = _previous_month_start(now)
    copy = make_copy(follower, strategy, started_at=last_month)
    _trade(copy, pnl_quote=pnl, rate="1", finished_at=last_month + timedelta(days=1))
    fee_assessment_create(follower_id=follower.pk, strategy_id=strategy.pk, period=last_month.date())
    return copy, invoice_create(follower_id=follower.pk, period=last_month.date())


@pytest.mark.django_db
def test_my_copies_shows_gross_fees_billed_and_accrued_and_net_in_the_billing_currency(client_for, provider_strategy):
    # given a copy since the first of last month, whose last month was billed...
    follower = make_user("follower")
    now = timezone.now()
    this_month = _month_start(now)
    copy, invoice = _copy_billed_last_month(follower, provider_strategy, pnl="150.00", now=now)
    # 20 % of 150.00 above a mark of 0, and a whole month's subscription.
    assert invoice.total == Decimal("30.00") + Decimal("29.00")
    # ...and this month's trades, one converted at a rate other than 1.
    _trade(copy, pnl_quote="80.50", rate="1", finished_at=this_month + timedelta(seconds=1))
    _trade(copy, pnl_quote="-20.00", rate="1.0125", finished_at=this_month + timedelta(seconds=2))

    # when the follower asks for their copies
    response = client_for(follower).get(f"{BASE}/my-copies")
    after = timezone.now()

    # then every figure is the one worked out by hand
    assert response.status_code == 200, response.json()
    results = response.json()["results"][0]["results"]
    gross_quote = Decimal("150.00") + Decimal("80.50") - Decimal("20.00")  # 210.50 USDT
    gross_usd = Decimal("150.00") + Decimal("80.50") - Decimal("20.25")  # -20 USDT at 1.0125 USD
    # The pair's mark is 150.00 after last month; cumulative now 210.25: 20 % of 60.25.
    performance = Decimal("12.05")
    subscription = _subscription_so_far(Decimal("29"), now)
    assert subscription == _subscription_so_far(Decimal("29"), after), "the test crossed midnight: run it again"
    assert results["currency"] == "USD" and results["quote_currency"] == "USDT"
    assert Decimal(results["gross_pnl_quote"]) == gross_quote
    assert Decimal(results["gross_pnl"]) == gross_usd
    assert Decimal(results["fees_billed"]) == Decimal("59.00")
    assert Decimal(results["accrued_performance_fee"]) == performance
    assert Decimal(results["accrued_subscription_fee"]) == subscription
    assert Decimal(results["fees"]) == Decimal("59.00") + performance + subscription
    assert Decimal(results["net_pnl"]) == gross_usd - Decimal("59.00") - performance - subscription


@pytest.mark.django_db
def test_a_loss_below_the_mark_accrues_no_performance_fee_and_a_voided_invoice_charges_nothing(client_for, provider_strategy):
    follower = make_user("follower")
    now = timezone.now()
    this_month = _month_start(now)
    copy, invoice = _copy_billed_last_month(follower, provider_strategy, pnl="100.00", now=now)
    invoice.status = invoice.Status.VOID
    invoice.save(update_fields=["status"])
    _trade(copy, pnl_quote="-40.00", rate="1", finished_at=this_month + timedelta(seconds=1))

    body = client_for(follower).get(f"{BASE}/copies/{copy.pk}").json()

    results = body["results"]
    assert Decimal(results["fees_billed"]) == Decimal("0")
    assert Decimal(results["accrued_performance_fee"]) == Decimal("0")
    subscription = _subscription_so_far(Decimal("29"), now)
    assert Decimal(results["net_pnl"]) == Decimal("60.00") - subscription


@pytest.mark.django_db
def test_a_pairs_fees_count_once_on_its_latest_copy_and_stopped_copies_keep_their_bills(client_for, provider_strategy):
    # given a copy stopped last month (billed) and a new copy of the same leader this month
    follower = make_user("follower")
    now = timezone.now()
    last_month, this_month = _previous_month_start(now), _month_start(now)
    old = make_copy(follower, provider_strategy, started_at=last_month, ended_at=last_month + timedelta(days=10))
    _trade(old, pnl_quote="50.00", rate="1", finished_at=last_month + timedelta(days=3))
    fee_assessment_create(follower_id=follower.pk, strategy_id=provider_strategy.pk, period=last_month.date())
    invoice_create(follower_id=follower.pk, period=last_month.date())
    new = make_copy(follower, provider_strategy, started_at=this_month)
    _trade(new, pnl_quote="10.00", rate="1", finished_at=this_month + timedelta(seconds=1))

    rows = {row["id"]: row["results"] for row in client_for(follower).get(f"{BASE}/my-copies?include_stopped=true").json()["results"]}

    days_last = calendar.monthrange(last_month.year, last_month.month)[1]
    # Live the 1st to the 10th of last month: it ended as the 11th began.
    billed_subscription = (Decimal("29") * 10 / days_last).quantize(CENT, rounding=ROUND_HALF_UP)
    assert Decimal(rows[old.pk]["fees_billed"]) == Decimal("10.00") + billed_subscription
    assert Decimal(rows[old.pk]["fees_accrued"]) == Decimal("0")
    assert Decimal(rows[new.pk]["fees_billed"]) == Decimal("0")
    assert Decimal(rows[new.pk]["accrued_performance_fee"]) == Decimal("2.00")
    assert Decimal(rows[new.pk]["net_pnl"]) == Decimal("10.00") - Decimal("2.00") - _subscription_so_far(Decimal("29"), now)


@pytest.mark.django_db
def test_another_followers_copy_is_not_found(client_for, provider_strategy):
    copy = make_copy(make_user("follower"), provider_strategy, started_at=_month_start(timezone.now()))

    response = client_for(make_user("stranger")).get(f"{BASE}/copies/{copy.pk}")

    assert response.status_code == 404


@pytest.mark.django_db
def test_what_copiers_kept_is_the_median_of_their_net_returns_over_30_days(provider_strategy):
    from billing.selectors import strategy_copiers_kept
    from marketplace.models import SignalProvider
    from tests.factories import CopyFactory

    # 20 % of new profit and 31 USD a month: 1 USD a day in March, 31/28 a day in February.
    SignalProvider.objects.filter(user=provider_strategy.owner).update(subscription_fee_monthly=Decimal("31"))
    provider_strategy.refresh_from_db()  # each copy records the terms offered now, not the cached 29
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)  # the window: 13 Feb 12:00 to now

    def copy(username, *, capital, started_at, ended_at=None):
        return CopyFactory(
            follower=make_user(username),
            strategy=provider_strategy,
            copy_capital=Decimal(capital),
            started_at=started_at,
            ended_at=ended_at,
            status=Copy.Status.STOPPED if ended_at else Copy.Status.ACTIVE,
        )

    # A: +50 on 20 Feb (billed: 10.00) and +150 on 10 Mar (due: 20 % above the mark of 50, 30.00);
    # subscription 16 days of February (17.71) and 15 of March (15.00). (200 - 72.71) / 1000.
    a = copy("ann", capital="1000", started_at=datetime(2026, 1, 1, tzinfo=UTC))
    _trade(a, pnl_quote="50", rate="1", finished_at=datetime(2026, 2, 20, tzinfo=UTC))
    fee_assessment_create(follower_id=a.follower_id, strategy_id=provider_strategy.pk, period=datetime(2026, 2, 1).date())
    _trade(a, pnl_quote="150", rate="1", finished_at=datetime(2026, 3, 10, tzinfo=UTC))
    alone = strategy_copiers_kept(strategy_id=provider_strategy.pk, now=now)
    # B: -40, no performance fee, 15 days of March. (-40 - 15) / 2000.
    b = copy("ben", capital="2000", started_at=datetime(2026, 3, 1, tzinfo=UTC))
    _trade(b, pnl_quote="-40", rate="1", finished_at=datetime(2026, 3, 5, tzinfo=UTC))
    # D: nothing traded, 9 days of February (9.96) and 15 of March. -24.96 / 500.
    copy("dan", capital="500", started_at=datetime(2026, 2, 20, tzinfo=UTC))
    # C stopped before the window: not counted.
    copy("cat", capital="900", started_at=datetime(2026, 1, 1, tzinfo=UTC), ended_at=datetime(2026, 2, 1, tzinfo=UTC))

    kept = strategy_copiers_kept(strategy_id=provider_strategy.pk, now=now)

    returns = sorted([(Decimal("200") - Decimal("72.71")) / 1000, Decimal("-55") / 2000, Decimal("-24.96") / 500])
    assert (alone.copiers, alone.median_net_return) == (1, Decimal("0.12729"))
    assert (kept.copiers, kept.days) == (3, 30)
    assert kept.median_net_return == returns[1] == Decimal("-0.0275")


@pytest.mark.django_db
def test_without_copiers_nothing_is_claimed(provider_strategy):
    from billing.selectors import strategy_copiers_kept

    kept = strategy_copiers_kept(strategy_id=provider_strategy.pk, now=timezone.now())

    assert (kept.copiers, kept.median_net_return) == (0, None)
