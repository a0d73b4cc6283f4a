"""Admin pages rendered by the test client (the browser flow is test_admin_browser.py)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from core.notifications import notification_send
from exchanges.models import Candle
from marketplace.charts import equity_curve_svg
from marketplace.models import ProviderEvent, ProviderMetrics, SignalProvider, TradeVerification
from marketplace.services import rating_upsert
from marketplace.verification import strategy_track_record_verify
from tests.marketplace.support import (
    make_copy,
    make_provider,
    make_strategy,
    make_trade,
    make_user,
    pending_provider_with_record,
)


@pytest.fixture
def curator_client(client, curator):
    client.force_login(curator)
    return client


def test_the_provider_list_filters_by_status_risk_and_verification_and_searches_by_name(curator_client, owner, stranger, follower):
    make_provider(owner, display_name="Alpha Swing", risk_level="low", verification_status="verified")
    make_provider(stranger, display_name="Beta Scalps", risk_level="high", status=SignalProvider.Status.PENDING)
    make_provider(follower, display_name="Gamma Carry", risk_level="low", status=SignalProvider.Status.PENDING)

    def names(query: str) -> list[str]:
        response = curator_client.get(f"/admin/marketplace/signalprovider/?{query}")
        assert response.status_code == 200
        return sorted(provider.display_name for provider in response.context["cl"].result_list)

    assert names("status__exact=pending") == ["Beta Scalps", "Gamma Carry"]
    assert names("risk_level__exact=low") == ["Alpha Swing", "Gamma Carry"]
    assert names("verification_status__exact=verified") == ["Alpha Swing"]
    assert names("q=scalps") == ["Beta Scalps"]


def test_an_action_asks_for_a_reason_before_changing_anything(curator_client, owner):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)
    url = "/admin/marketplace/signalprovider/"

    asked = curator_client.post(url, {"action": "reject", "_selected_action": [provider.pk]})
    empty = curator_client.post(url, {"action": "reject", "_selected_action": [provider.pk], "apply": "1", "reason": ""})

    assert asked.status_code == 200
    assert b"give a reason" in asked.content
    assert empty.status_code == 200
    assert b"This field is required" in empty.content
    provider.refresh_from_db()
    assert provider.status == "pending"
    assert not ProviderEvent.objects.exists()

    done = curator_client.post(url, {"action": "reject", "_selected_action": [provider.pk], "apply": "1", "reason": "Thin history."})

    assert done.status_code == 302
    provider.refresh_from_db()
    assert provider.status == "rejected"
    assert ProviderEvent.objects.get().reason == "Thin history."


def test_an_illegal_action_in_admin_is_reported_and_changes_nothing(curator_client, owner):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)

    response = curator_client.post(
        "/admin/marketplace/signalprovider/",
        {"action": "suspend", "_selected_action": [provider.pk], "apply": "1", "reason": "Too risky."},
        follow=True,
    )

    assert b"Cannot suspend a provider that is pending." in response.content
    provider.refresh_from_db()
    assert provider.status == "pending"


def test_staff_without_the_curators_group_cannot_curate(client, owner):
    staff_only = make_user("staffer", is_staff=True)
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)
    client.force_login(staff_only)

    response = client.post(
        "/admin/marketplace/signalprovider/", {"action": "approve", "_selected_action": [provider.pk], "apply": "1", "reason": "x"}
    )

    assert response.status_code == 403
    provider.refresh_from_db()
    assert provider.status == "pending"


def test_the_provider_page_shows_metrics_the_equity_curve_and_verification_findings(curator_client, owner):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    minute = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    Candle.objects.create(
        exchange_id="binance",
        symbol="BTC/USDT",
        timeframe="1m",
        open_time=minute,
        open=Decimal("100"),
        high=Decimal("110"),
        low=Decimal("100"),
        close=Decimal("105"),
        volume=Decimal("1"),
    )
    make_trade(strategy, sequence=1, side="buy", amount="1", price="250", traded_at=minute + timedelta(seconds=3))
    strategy_track_record_verify(strategy_id=strategy.pk, now=minute + timedelta(days=1), fetch_candles=False)
    ProviderMetrics.objects.create(
        provider=provider,
        window="30d",
        as_of=date(2026, 3, 9),
        computed_at=timezone.now(),
        total_return=0.1234,
        sharpe_ratio=1.5,
        profit_factor_infinite=True,
        equity_series=[["2026-03-08", "100.00"], ["2026-03-09", "110.00"]],
    )
    ProviderMetrics.objects.create(
        provider=provider,
        window="all",
        as_of=date(2026, 3, 9),
        computed_at=timezone.now(),
        equity_series=[["2026-03-07", "90.00"], ["2026-03-08", "100.00"], ["2026-03-09", "110.00"]],
    )

    response = curator_client.get(f"/admin/marketplace/signalprovider/{provider.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<tr class="metrics-30d">' in html and "12.34 %" in html and "1.50" in html and "no losing trade" in html
    assert '<svg class="equity-curve"' in html and "<polyline" in html and "<script" not in html.split("equity-curve")[1].split("</svg>")[0]
    assert 'class="finding-mismatch"' in html and "250" in html
    assert TradeVerification.objects.get().status == "mismatch"


def test_the_equity_svg_draws_one_point_per_day_and_escapes_its_labels():
    svg = equity_curve_svg([["<b>2026-03-01</b>", "100"], ["2026-03-02", "90"], ["2026-03-03", "120"]])

    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) == 3
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    # the highest equity is drawn at the top of the plot, the lowest at the bottom
    assert float(points[2].split(",")[1]) < float(points[0].split(",")[1]) < float(points[1].split(",")[1])


def test_notifications_are_listed_in_admin(admin_client, owner):
    notification_send(user=owner, kind="payout", title="Your payout is on its way", email=False)

    response = admin_client.get("/admin/core/notification/?q=payout")

    assert response.status_code == 200
    assert b"Your payout is on its way" in response.content


# --- deciding on the provider's page ------------------------------------------------------


def _page(client, provider) -> str:
    response = client.get(f"/admin/marketplace/signalprovider/{provider.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def _decide(client, provider, decision: str, reason: str = "Checked the record."):
    return client.post(f"/admin/marketplace/signalprovider/{provider.pk}/decide/", {"decision": decision, "reason": reason}, follow=True)


@pytest.mark.parametrize(
    ("status", "needs_review", "buttons"),
    [
        ("pending", False, ["approve", "reject"]),
        ("approved", False, ["suspend"]),
        ("approved", True, ["suspend", "clear_review"]),
        ("suspended", False, ["reinstate"]),
        ("rejected", False, []),
    ],
)
def test_the_provider_page_offers_the_decisions_its_state_allows(curator_client, owner, status, needs_review, buttons):
    provider = make_provider(owner, status=status, needs_review=needs_review, review_reason="drawdown" if needs_review else "")

    html = _page(curator_client, provider)

    offered = [value for value in ("approve", "reject", "suspend", "reinstate", "clear_review") if f'id="decide-{value}"' in html]
    assert offered == buttons
    assert ('id="id_decision_reason"' in html) == bool(buttons)


def test_a_decision_on_the_provider_page_needs_a_reason_then_is_applied_logged_and_told(curator_client, curator, owner):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)

    refused = _decide(curator_client, provider, "approve", reason="   ")
    provider.refresh_from_db()
    assert provider.status == "pending" and not ProviderEvent.objects.exists()
    assert "Nothing changed. Reason: This field is required." in refused.content.decode()

    done = _decide(curator_client, provider, "approve", reason="Fourteen months of audited statements.")

    provider.refresh_from_db()
    assert done.redirect_chain[-1][0] == f"/admin/marketplace/signalprovider/{provider.pk}/change/"
    assert "Approve: done for" in done.content.decode()
    assert provider.status == "approved"
    event = ProviderEvent.objects.get()
    assert (event.action, event.actor, event.reason) == ("approve", curator, "Fourteen months of audited statements.")
    assert owner.notifications.filter(title__contains="approved").exists()


def test_a_decision_the_state_does_not_allow_is_reported_and_changes_nothing(curator_client, owner):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)

    response = _decide(curator_client, provider, "suspend")

    assert "Nothing changed. Cannot suspend a provider that is pending." in response.content.decode()
    provider.refresh_from_db()
    assert provider.status == "pending" and not ProviderEvent.objects.exists()


def test_clearing_the_review_flag_from_the_page_reopens_the_providers_strategies(curator_client, owner):
    provider = make_provider(owner, needs_review=True, review_reason="circuit breaker")
    strategy = make_strategy(owner, accepting_copies=False)

    _decide(curator_client, provider, "clear_review", reason="Drawdown explained.")

    provider.refresh_from_db()
    strategy.refresh_from_db()
    assert (provider.needs_review, strategy.accepting_copies) == (False, True)
    assert ProviderEvent.objects.get().action == "review_cleared"


def test_staff_who_may_not_curate_see_no_decision_and_cannot_post_one(client, admin_user, owner):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_signalprovider"))
    client.force_login(viewer)

    html = _page(client, provider)
    response = client.post(f"/admin/marketplace/signalprovider/{provider.pk}/decide/", {"decision": "approve", "reason": "x"})

    assert 'id="decide-approve"' not in html
    assert response.status_code == 403
    provider.refresh_from_db()
    assert provider.status == "pending"


def test_a_decision_is_only_posted(curator_client, owner):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)

    assert curator_client.get(f"/admin/marketplace/signalprovider/{provider.pk}/decide/").status_code == 405


def test_a_pending_providers_page_shows_its_trades_and_checking_the_record_computes_its_metrics(curator_client, simulated_binance):
    provider = pending_provider_with_record(simulated_binance)

    before = _page(curator_client, provider)
    checked = curator_client.post(f"/admin/marketplace/signalprovider/{provider.pk}/check-record/", follow=True)
    after = checked.content.decode()

    assert before.count('<tr class="trade">') == 2 and "59,700" in before and "61,050" in before and "135.00 USDT" in before
    assert "29.00 USD" in before and "29.00000000" not in before  # the fee, read-only to a curator
    assert before.count("not computed yet") == 4 and "not checked yet" in before
    assert 'id="check-record"' in before
    yesterday = timezone.now().date() - timedelta(days=1)  # the last full day: metrics are daily
    assert (
        f"Record checked: 2 trade(s) verified, 0 mismatch(es), 0 without a candle; metrics computed up to {yesterday:%-d %b %Y}." in after
    )
    assert "not computed yet" not in after and "not checked yet" not in after
    assert "<polyline" in after.split('id="provider-equity-curve"')[1]
    everything = ProviderMetrics.objects.get(provider=provider, window="all")
    assert everything.closed_trades == 1 and everything.total_return > 0
    assert TradeVerification.objects.filter(strategy__owner=provider.user, status="verified").count() == 2
    provider.refresh_from_db()
    assert provider.status == "pending"  # checking the record decides nothing


def test_checking_the_record_says_which_day_the_metrics_reach_and_that_todays_trades_come_tomorrow(curator_client, simulated_binance):
    provider = pending_provider_with_record(simulated_binance)
    strategy = provider.user.strategies.get()
    make_trade(strategy, sequence=3, side="buy", amount="0.1", price="61000", traded_at=timezone.now() - timedelta(minutes=5))

    html = curator_client.post(f"/admin/marketplace/signalprovider/{provider.pk}/check-record/", follow=True).content.decode()

    yesterday = timezone.now().date() - timedelta(days=1)
    assert f"metrics computed up to {yesterday:%-d %b %Y}. 1 trade(s) of today enter them with the nightly run after the day closes" in html
    assert "today&#x27;s trades count from tomorrow" in html or "today's trades count from tomorrow" in html


def test_checking_the_record_while_the_exchange_fails_says_what_is_missing_and_stores_no_metrics(curator_client, simulated_binance):
    provider = pending_provider_with_record(simulated_binance)
    simulated_binance.set_faults(rates={"5xx": 1.0})

    response = curator_client.post(f"/admin/marketplace/signalprovider/{provider.pk}/check-record/", follow=True)

    html = response.content.decode()
    assert response.status_code == 200
    assert "2 without a candle" in html and "metrics could not be computed yet (a daily close is missing)" in html
    assert not ProviderMetrics.objects.filter(provider=provider).exists()


def test_deleting_a_rating_in_admin_updates_the_providers_average(curator_client, owner, follower, stranger):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    for user, stars in ((follower, 5), (stranger, 1)):
        make_copy(user, strategy)
        rating_upsert(user=user, provider_id=provider.pk, stars=stars, comment="spam" if stars == 1 else "")
    abusive = provider.ratings.get(user=stranger)

    response = curator_client.post(f"/admin/marketplace/rating/{abusive.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    provider.refresh_from_db()
    assert (provider.average_rating, provider.ratings_count) == (Decimal("5.00"), 1)
