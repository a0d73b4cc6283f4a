"""Fee terms: what every endpoint and page shows is what billing charges, to the cent; the
terms are recorded when a copy starts; a provider's change reaches existing copies only after
the notice period; a strategy's kind and override cannot change once copied (issue 18 item 3)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice
from billing.services import billing_period_run
from copytrade.models import Strategy
from copytrade.services.copies import copy_start, copy_stop
from core.errors import ConflictError
from core.models import Notification
from core.money import quantize_money
from marketplace.models import CopyFeeTerms
from marketplace.services import provider_terms_update
from marketplace.terms import copy_fee_terms, fee_terms_offered
from tests.billing.factories import add_trade, at, make_provider, make_user, month
from tests.copytrade import paper_account, signal_only_strategy
from tests.factories import CopyFactory
from web.fees import copy_fee_terms_shown, strategy_fee_terms


@pytest.fixture(autouse=True)
def _ledger_only(settings):
    settings.STRIPE_API_KEY = ""
    settings.FEE_TERMS_NOTICE_DAYS = 30


def _at(moment: datetime, monkeypatch) -> None:
    """The service's clock reads `moment` (copies start and terms change at a chosen time)."""
    monkeypatch.setattr(timezone, "now", lambda: moment)


@pytest.fixture
def provider_user(db):
    user = make_user("provider")
    make_provider(user, subscription="29.00", performance_percent="20")
    return user


@pytest.fixture
def strategies(owner, provider_user, simulated_binance):
    make_provider(owner)  # an AI strategy that charges a fee is copied once curators approve its owner
    ai = signal_only_strategy(owner, name="AI Momentum", kind=Strategy.Kind.AI, copy_override_percent=Decimal("12.5"))
    manual = signal_only_strategy(provider_user, name="Breakouts", kind=Strategy.Kind.MANUAL)
    return ai, manual


def _start(follower, strategy, **extra):
    account = paper_account(follower, label=f"Paper {strategy.pk}", usdt="10000")
    return copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("25"), **extra)


def _shown_terms(client, strategy: Strategy, provider_id: int | None) -> list[tuple[Decimal, Decimal]]:
    """(performance %, subscription a month) as each endpoint and page states them."""
    shown = []
    top = client.get("/api/copy-trading/top", {"window": "all", "limit": 50}).json()
    rows = top["results"] if isinstance(top, dict) else top
    (row,) = [row for row in rows if row["id"] == strategy.pk]
    leader = client.get(f"/api/copy-trading/leader/{strategy.pk}").json()
    for terms in (row["fee_terms"], leader["fee_terms"]):
        assert terms["currency"] == "USD"
        assert terms["subscription_fee_monthly"].count(".") == 1 and len(terms["subscription_fee_monthly"].split(".")[1]) == 2
        shown.append((Decimal(terms["performance_fee_percent"]), Decimal(terms["subscription_fee_monthly"])))
    if provider_id is not None:
        trader = client.get(f"/api/marketplace/traders/{provider_id}").json()
        (listed,) = [item for item in trader["strategies"] if item["id"] == strategy.pk]
        shown.append((Decimal(listed["fee_terms"]["performance_fee_percent"]), Decimal(listed["fee_terms"]["subscription_fee_monthly"])))
        shown.append((Decimal(trader["performance_fee_percent"]), Decimal(trader["subscription_fee_monthly"])))
    page = strategy_fee_terms(strategy=strategy)
    shown.append((page.rate_percent, quantize_money(page.subscription_fee_monthly)))
    return shown


@pytest.mark.django_db
def test_the_terms_every_endpoint_shows_are_what_the_next_billing_run_charges_to_the_cent(
    client_for, follower, stranger, strategies, provider_user, monkeypatch
):
    # given: an AI strategy and a marketplace provider with a subscription, as a stranger sees them
    ai, manual = strategies
    client = client_for(stranger)
    provider_id = provider_user.signal_provider.id
    shown = {ai.pk: _shown_terms(client, ai, None), manual.pk: _shown_terms(client, manual, provider_id)}
    for strategy in (ai, manual):
        assert len(set(shown[strategy.pk])) == 1, shown[strategy.pk]

    # when: the follower copies both before October, with the terms they were shown, and
    # makes 250.37 on each in October
    _at(at(2026, 9, 30), monkeypatch)
    copies = {}
    for strategy in (ai, manual):
        terms = strategy_fee_terms(strategy=strategy).terms
        copies[strategy.pk] = _start(follower, strategy, expected_terms=terms)
    monkeypatch.undo()
    for copy in copies.values():
        add_trade(copy, pnl="250.37", finished_at=at(2026, 10, 15))
    billing_period_run(period=month(2026, 10))

    # then: each copy's invoice lines are the shown rate of 250.37 and the shown subscription (live all month)
    invoice = Invoice.objects.get(follower=follower, period=month(2026, 10))
    for strategy in (ai, manual):
        rate, subscription = shown[strategy.pk][0]
        lines = {line.kind: line.amount for line in invoice.lines.filter(assessment__strategy=strategy)}
        assert lines.get("performance_fee") == quantize_money(Decimal("250.37") * rate / 100)
        assert lines.get("subscription", Decimal("0.00")) == subscription
        recorded = copy_fee_terms_shown(copy=copies[strategy.pk])
        assert (recorded.rate_percent, quantize_money(recorded.subscription_fee_monthly)) == (rate, subscription)
    assert invoice.total == Decimal("31.30") + Decimal("50.07") + Decimal("29.00")


@pytest.mark.django_db
def test_a_providers_new_terms_reach_an_existing_copy_only_after_the_notice_period(
    follower, stranger, strategies, provider_user, monkeypatch
):
    # given: a copy started in June at 20 % + 29.00 a month
    _, manual = strategies
    _at(at(2026, 6, 30), monkeypatch)
    existing = _start(follower, manual)

    # when: on 10 July the provider raises to 30 % + 49.00 (30 days' notice: from 1 September)
    _at(at(2026, 7, 10), monkeypatch)
    provider_terms_update(
        provider_id=provider_user.signal_provider.id,
        actor=provider_user,
        performance_fee_percent=Decimal("30"),
        subscription_fee_monthly=Decimal("49.00"),
    )
    # a copy started after the change takes the new terms at once
    _at(at(2026, 7, 11), monkeypatch)
    newcomer = _start(stranger, manual)
    monkeypatch.undo()
    for copy in (existing, newcomer):
        for month_number in (7, 8, 9):
            add_trade(copy, pnl="100", finished_at=at(2026, month_number, 20))
    for month_number in (7, 8, 9):
        billing_period_run(period=month(2026, month_number))

    # then: the existing copy pays the old terms for July and August, the new from September
    def charged(user, month_number):
        invoice = Invoice.objects.get(follower=user, period=month(2026, month_number))
        return {line.kind: line.amount for line in invoice.lines.all()}

    assert charged(follower, 7) == {"performance_fee": Decimal("20.00"), "subscription": Decimal("29.00")}
    assert charged(follower, 8) == {"performance_fee": Decimal("20.00"), "subscription": Decimal("29.00")}
    assert charged(follower, 9) == {"performance_fee": Decimal("30.00"), "subscription": Decimal("49.00")}
    assert charged(stranger, 8) == {"performance_fee": Decimal("30.00"), "subscription": Decimal("49.00")}
    # and its follower was told when, and what changes
    (notice,) = Notification.objects.filter(user=follower, kind=Notification.Kind.FEE_TERMS)
    assert "2026-09-01" in notice.title
    assert "30 % of new profit above your high-water mark + 49.00 USD a month" in notice.body
    assert "20 % of new profit above your high-water mark + 29.00 USD a month" in notice.body
    assert not Notification.objects.filter(user=stranger, kind=Notification.Kind.FEE_TERMS).exists()


@pytest.mark.django_db
def test_a_change_while_a_follower_looks_refuses_the_copy_with_the_new_terms(client_for, follower, strategies, provider_user):
    # given: the follower was shown 20 % + 29.00; the provider then changes to 25 %
    _, manual = strategies
    shown = strategy_fee_terms(strategy=manual).terms
    provider_terms_update(
        provider_id=provider_user.signal_provider.id,
        actor=provider_user,
        performance_fee_percent=Decimal("25"),
        subscription_fee_monthly=Decimal("29.00"),
    )

    # when / then: the service refuses, nothing recorded
    with pytest.raises(ConflictError, match="fee terms of 'Breakouts' changed: they are now 25 %"):
        _start(follower, manual, expected_terms=shown)
    assert not CopyFeeTerms.objects.exists()

    # and so does the REST start, with the current terms in the answer
    account = paper_account(follower, label="REST", usdt="10000")
    payload = {"strategy_id": manual.pk, "exchange_account_id": account.pk, "allocation_percent": "25"}
    stale = {"expected_performance_fee_percent": "20.00", "expected_subscription_fee_monthly": "29.00"}
    response = client_for(follower).post("/api/copy-trading/start", {**payload, **stale}, format="json")
    assert response.status_code == 409, response.json()
    assert response.json()["extra"]["fee_terms"] == {
        "performance_fee_percent": "25.00",
        "subscription_fee_monthly": "29.00",
        "currency": "USD",
    }
    current = {"expected_performance_fee_percent": "25", "expected_subscription_fee_monthly": "29"}
    response = client_for(follower).post("/api/copy-trading/start", {**payload, **current}, format="json")
    assert response.status_code == 201, response.json()
    copy_terms = copy_fee_terms(copy=follower.copies.get())
    assert (copy_terms.rate_percent, copy_terms.subscription_fee_monthly) == (Decimal("25"), Decimal("29"))


@pytest.mark.django_db
def test_the_recorded_terms_keep_the_payee_share_a_settings_change_would_move(settings, follower, strategies, monkeypatch):
    ai, _ = strategies
    _at(at(2026, 9, 30), monkeypatch)
    copy = _start(follower, ai)
    monkeypatch.undo()
    settings.BILLING_PAYOUT_SHARES = {**settings.BILLING_PAYOUT_SHARES, "ai": {"payee": Decimal("0.50")}}
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 2))

    billing_period_run(period=month(2026, 10))

    (line,) = Invoice.objects.get(follower=follower).lines.all()
    assert (line.amount, line.payee_amount, line.platform_amount) == (Decimal("12.50"), Decimal("7.50"), Decimal("5.00"))
    assert fee_terms_offered(strategy=ai).payee_share == Decimal("0.50")


# --- issue 18 item 3: no endpoint changes what existing copies pay ------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("change", [{"kind": "manual"}, {"copy_override_percent": "30"}, {"kind": "manual", "copy_override_percent": "5"}])
def test_a_copied_strategys_kind_and_fee_cannot_change_through_the_api(client_for, owner, follower, strategies, change):
    ai, _ = strategies
    _start(follower, ai)

    response = client_for(owner).patch(f"/api/strategies/{ai.pk}/", change, format="json")

    assert response.status_code == 400, response.json()
    assert "has been copied" in str(response.json())
    ai.refresh_from_db()
    assert (ai.kind, ai.copy_override_percent) == ("ai", Decimal("12.5"))


@pytest.mark.django_db
def test_an_uncopied_strategys_fee_can_still_change_and_unchanged_values_pass(client_for, owner, follower, strategies):
    ai, _ = strategies

    response = client_for(owner).patch(f"/api/strategies/{ai.pk}/", {"copy_override_percent": "20"}, format="json")
    assert response.status_code == 200, response.json()
    _start(follower, ai)
    response = client_for(owner).patch(f"/api/strategies/{ai.pk}/", {"kind": "ai", "name": "Renamed"}, format="json")
    assert response.status_code == 200, response.json()


@pytest.mark.django_db
def test_a_fee_change_made_in_admin_gives_existing_copies_the_same_notice(admin_client, follower, strategies, provider_user):
    _, manual = strategies
    existing = _start(follower, manual)
    provider = provider_user.signal_provider
    form = {
        "display_name": provider.display_name,
        "description": "",
        "trading_strategy": "",
        "risk_level": provider.risk_level,
        "subscription_fee_monthly": "39.00",
        "performance_fee_percent": "20",
        "is_public": "on",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
    }

    response = admin_client.post(f"/admin/marketplace/signalprovider/{provider.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    provider.refresh_from_db()
    assert provider.subscription_fee_monthly == Decimal("39")
    assert copy_fee_terms(copy=existing).subscription_fee_monthly == Decimal("29")  # until the notice period ends
    assert Notification.objects.filter(user=follower, kind=Notification.Kind.FEE_TERMS).count() == 1
    assert provider.events.filter(action="terms", field="subscription_fee_monthly", from_value="29.00 USD", to_value="39.00 USD").exists()


@pytest.mark.django_db
def test_reading_a_copys_terms_writes_nothing_even_for_a_copy_without_recorded_terms(follower, strategies, django_assert_max_num_queries):
    _, manual = strategies
    unrecorded = CopyFactory(follower=follower, strategy=manual, fee_terms=False)

    terms = copy_fee_terms(copy=unrecorded)

    assert (terms.rate_percent, terms.subscription_fee_monthly) == (Decimal("20"), Decimal("29"))  # the current offer
    assert not CopyFeeTerms.objects.filter(copy=unrecorded).exists()
    recorded = CopyFactory(follower=make_user("recorded"), strategy=manual)
    with django_assert_max_num_queries(2) as captured:  # the row in effect (else the first row): reads only
        copy_fee_terms(copy=recorded)
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in captured.captured_queries)


def _restarted_after_a_price_rise(follower, strategies, provider_user, monkeypatch):
    """Copy A from 1 August at 20 % + 29.00; the provider raises to 30 % + 49.00 on
    5 September; A stopped on 20 October, copy B started on the 21st at the new terms.
    Trades: A -100 on 20 August and +300 on 10 October, B +100 on 25 October."""
    _, manual = strategies
    _at(at(2026, 8, 1), monkeypatch)
    copy_a = _start(follower, manual)
    _at(at(2026, 9, 5), monkeypatch)
    provider_terms_update(
        provider_id=provider_user.signal_provider.id,
        actor=provider_user,
        performance_fee_percent=Decimal("30"),
        subscription_fee_monthly=Decimal("49.00"),
    )
    _at(at(2026, 10, 20), monkeypatch)
    copy_stop(follower=follower, copy_id=copy_a.pk)
    _at(at(2026, 10, 21), monkeypatch)
    account = paper_account(follower, label="Paper again", usdt="10000")
    copy_b = copy_start(follower=follower, strategy_id=manual.pk, exchange_account_id=account.pk, allocation_percent=Decimal("25"))
    monkeypatch.undo()
    add_trade(copy_a, pnl="-100", finished_at=at(2026, 8, 20))
    add_trade(copy_a, pnl="300", finished_at=at(2026, 10, 10))
    add_trade(copy_b, pnl="100", finished_at=at(2026, 10, 25))
    return copy_a, copy_b


def test_a_copy_restarted_after_a_price_rise_is_billed_each_copys_terms_for_its_own_days_and_profit(
    follower, strategies, provider_user, monkeypatch
):
    """The restart-after-a-price-change month, worked by hand.

    Copy A starts 1 August at 20 % + 29.00 a month. August: -100 (no fee; the pair's
    cumulative P&L is -100, its mark stays 0); subscription 29.00 × 31/31 = 29.00.
    On 5 September the provider raises to 30 % + 49.00 (A keeps its terms until November).
    On 20 October at noon the follower stops A, and on the 21st at noon starts copy B, which
    takes the new terms. October: A makes +300 (the 10th), B +100 (the 25th).

    The pair: net +400, cumulative -100 + 400 = 300, mark 0 -> 300: 300 of new profit.
    Each copy's share, in proportion to its October profit: A 300 × 300/400 = 225,
    B 300 × 100/400 = 75. Performance fees: A 20 % × 225 = 45.00, B 30 % × 75 = 22.50.
    Subscription: A live 1-20 October, 20 of 31 days: 29.00 × 20/31 = 18.709… = 18.71;
    B live 21-31 October, 11 days: 49.00 × 11/31 = 17.387… = 17.39.
    October's invoice: 45.00 + 18.71 + 22.50 + 17.39 = 103.60 (the whole month at B's
    terms, as billing did before, was 30 % × 300 + 49.00 = 139.00).
    """
    copy_a, copy_b = _restarted_after_a_price_rise(follower, strategies, provider_user, monkeypatch)

    for month_number in (8, 9, 10):
        billing_period_run(period=month(2026, month_number))

    august = Invoice.objects.get(follower=follower, period=month(2026, 8))
    assert [(line.kind, line.amount) for line in august.lines.order_by("id")] == [("subscription", Decimal("29.00"))]
    october = Invoice.objects.get(follower=follower, period=month(2026, 10))
    lines = [
        (line.kind, line.amount, line.assessment.rate_percent, line.assessment.live_days, list(line.assessment.copies.all()))
        for line in october.lines.order_by("id")
    ]
    assert lines == [
        ("performance_fee", Decimal("45.00"), Decimal("20"), 20, [copy_a]),
        ("subscription", Decimal("18.71"), Decimal("20"), 20, [copy_a]),
        ("performance_fee", Decimal("22.50"), Decimal("30"), 11, [copy_b]),
        ("subscription", Decimal("17.39"), Decimal("30"), 11, [copy_b]),
    ]
    assert october.total == Decimal("103.60")
    # The pair's mark moved once, to the pair's cumulative P&L.
    assert {(line.assessment.hwm_before, line.assessment.hwm_after) for line in october.lines.all()} == {(Decimal("0"), Decimal("300"))}


def test_my_copies_accrues_a_restarted_pair_exactly_as_billing_then_assesses_it(follower, strategies, provider_user, monkeypatch):
    """The month of the test above, read on 31 October at 23:00 (what My Copies shows as
    this month's fees) and then billed: each copy's accrual is its part of the invoice."""
    from billing.selectors import copy_results

    copy_a, copy_b = _restarted_after_a_price_rise(follower, strategies, provider_user, monkeypatch)
    billing_period_run(period=month(2026, 8))
    billing_period_run(period=month(2026, 9))
    copy_a.refresh_from_db()
    copy_b.refresh_from_db()

    shown = copy_results(copies=[copy_a, copy_b], now=datetime(2026, 10, 31, 23, tzinfo=UTC))
    billing_period_run(period=month(2026, 10))

    october = Invoice.objects.get(follower=follower, period=month(2026, 10))
    billed = {}
    for line in october.lines.all():
        billed.setdefault(line.assessment.copy_id, []).append(line.amount)
    assert shown[copy_a.pk].accrued_performance_fee + shown[copy_a.pk].accrued_subscription_fee == sum(billed[copy_a.pk])
    assert shown[copy_b.pk].accrued_performance_fee + shown[copy_b.pk].accrued_subscription_fee == sum(billed[copy_b.pk])
    assert (shown[copy_a.pk].accrued_performance_fee, shown[copy_b.pk].accrued_performance_fee) == (Decimal("45.00"), Decimal("22.50"))
