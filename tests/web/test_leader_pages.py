"""Leaders' and providers' pages: strategies with the secret shown once and a signed curl
example that really signs; earnings by month and by (masked) follower; payouts; the
provider application and the curator's reason; invoices with their basis; ratings."""

import re
import subprocess
from decimal import Decimal
from html import unescape

import pytest
from django.utils import timezone

from billing.models import BillingAccount
from copytrade.models import Copy, LeaderTrade, Strategy
from core.profiles import profile_create
from exchanges.models import ExchangeAccount
from marketplace.models import Rating, SignalProvider
from marketplace.services import provider_transition
from tests.billing.ledger import october_ledger
from tests.marketplace.support import make_copy
from tests.web.support import make_leader, make_member, make_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db):
    return make_member("mia", "Mia")


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


@pytest.mark.parametrize("path", ["/leader/strategies/", "/leader/earnings/", "/provider/", "/invoices/"])
def test_an_anonymous_visitor_is_sent_to_log_in(client, path):
    response = client.get(path)

    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("path", ["/leader/strategies/1/rotate-secret/", "/leaders/1/rate/"])
def test_an_anonymous_post_changes_nothing(client, path):
    response = client.post(path)

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- Strategies ------------------------------------------------------------------------------


def _secret_on(html: str) -> str:
    return re.search(r'id="secret-\d+" value="([^"]+)"', html).group(1)


def test_a_new_strategy_shows_its_secret_once(signed_in, member):
    response = signed_in.post(
        "/leader/strategies/", {"name": "Night Owl", "declared_capital": "5000", "is_public_leader": "on", "leader_account": ""}
    )

    strategy = Strategy.objects.get(owner=member)
    html = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert _secret_on(html) == strategy.webhook_secret and "shown only this once" in html
    assert strategy.declared_capital == 5000 and strategy.is_public_leader
    assert strategy.webhook_secret not in signed_in.get("/leader/strategies/").content.decode()


def test_a_strategy_needs_a_capital_or_an_account(signed_in, member):
    response = signed_in.post("/leader/strategies/", {"name": "Night Owl", "declared_capital": "", "leader_account": ""})

    assert response.status_code == 400 and "declares the capital its signals size against" in response.content.decode()
    assert not Strategy.objects.filter(owner=member).exists()


def test_only_accounts_that_receive_no_copies_are_offered_to_lead(signed_in, member):
    followed = make_leader(make_member("alice", "Alice Trades"), name="Followed")
    copy = make_copy(member, followed)
    copy.exchange_account.label = "Copies Alice"
    copy.exchange_account.save(update_fields=["label"])
    ExchangeAccount.objects.create(owner=member, exchange_id="paper", label="Free to lead")

    html = signed_in.get("/leader/strategies/").content.decode()

    assert "Free to lead" in html
    assert "Copies Alice" not in html


def test_rotating_shows_the_new_secret_once_and_the_old_one_stops(signed_in, member):
    strategy = make_leader(member, name="Night Owl")
    old = strategy.webhook_secret

    response = signed_in.post(f"/leader/strategies/{strategy.pk}/rotate-secret/")

    # redirected (a reload does not rotate again), to a page that shows the new secret once
    assert response.status_code == 302 and response["Location"] == f"/leader/strategies/#strategy-{strategy.pk}"
    strategy.refresh_from_db()
    assert strategy.webhook_secret != old
    shown = signed_in.get("/leader/strategies/")
    assert _secret_on(shown.content.decode()) == strategy.webhook_secret and shown["Cache-Control"] == "no-store"
    assert strategy.webhook_secret not in str(dict(signed_in.session))
    assert strategy.webhook_secret not in signed_in.get("/leader/strategies/").content.decode()


def test_a_strategy_says_whether_the_leaderboard_lists_it(signed_in, member):
    strategy = make_leader(member, name="Night Owl")
    provider = make_provider(member)
    SignalProvider.objects.filter(pk=provider.pk).update(status=SignalProvider.Status.PENDING)

    waiting = signed_in.get("/leader/strategies/").content.decode()
    SignalProvider.objects.filter(pk=provider.pk).update(status=SignalProvider.Status.APPROVED)
    approved = signed_in.get("/leader/strategies/").content.decode()

    assert "Listed once your provider application is approved" in waiting and "On the leaderboard" not in waiting
    assert "On the leaderboard" in approved
    assert signed_in.get(f"/leaders/{strategy.pk}/").status_code == 200


def test_someone_elses_strategy_cannot_be_rotated(signed_in):
    theirs = make_leader(make_member("oscar", "Oscar"), name="Theirs")

    response = signed_in.post(f"/leader/strategies/{theirs.pk}/rotate-secret/")

    assert response.status_code == 404 and Strategy.objects.get(pk=theirs.pk).webhook_secret == theirs.webhook_secret


@pytest.mark.django_db(transaction=True)
def test_the_curl_example_is_signed_as_the_webhook_checks_it(client, live_server, simulated_binance):
    member = make_member("lena", "Lena")
    client.force_login(member)
    html = client.post("/leader/strategies/", {"name": "Night Owl", "declared_capital": "5000", "leader_account": ""}).content.decode()
    strategy = Strategy.objects.get(owner=member)
    script = unescape(re.search(r'<pre id="curl-\d+">(.*?)</pre>', html, re.S).group(1))
    script = re.sub(r"curl -sS -X POST '[^']+'", f"curl -sS -o /dev/null -w '%{{http_code}}' -X POST '{live_server.url}/webhook'", script)

    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)

    assert result.stdout == "201", result.stdout + result.stderr
    trade = LeaderTrade.objects.get(strategy=strategy)
    assert trade.symbol == "BTC/USDT" and trade.side == "buy" and trade.source == Strategy.Source.WEBHOOK


def test_signals_received_are_listed(signed_in, member):
    strategy = make_leader(member, name="Night Owl")
    LeaderTrade.objects.create(
        strategy=strategy,
        external_id="s1",
        sequence=1,
        symbol="ETH/USDT",
        side="buy",
        amount=Decimal("0.5"),
        price=Decimal("3000"),
        notional=Decimal("1500"),
        leader_equity=Decimal("10000"),
        effect="open",
        position_after=Decimal("0.5"),
        source="webhook",
        traded_at="2026-03-01T10:00:00Z",
    )

    html = signed_in.get("/leader/strategies/").content.decode()

    assert "ETH/USDT" in html and "buy 0.5 (open)" in html and "paste-your-webhook-secret-here" in html


# --- Earnings, payouts, provider -----------------------------------------------------------


def test_earnings_show_months_and_followers_by_display_name_never_username(client):
    ledger = october_ledger()
    profile_create(user=ledger["ana"], display_name="Ana Follows")
    client.force_login(ledger["alice"].user)

    html = client.get("/leader/earnings/").content.decode()

    assert "October 2026" in html and "31.91\u00a0USD" in html
    assert "Ana Follows" in html and ">ana<" not in html and "ana@" not in html
    assert "Paid by hand" in html and "Awaiting transfer" in html


def test_a_connected_stripe_account_is_named_on_the_payouts(client):
    ledger = october_ledger()
    BillingAccount.objects.create(user=ledger["alice"].user, stripe_connect_account_id="acct_123")
    client.force_login(ledger["alice"].user)

    html = client.get("/provider/").content.decode()

    assert "Stripe Connect" in html and "acct_123" in html


def test_applying_as_a_provider_leaves_the_application_pending(signed_in, member):
    response = signed_in.post(
        "/provider/",
        {"display_name": "Mia Signals", "risk_level": "low", "performance_fee_percent": "12.5", "subscription_fee_monthly": "10"},
        follow=True,
    )

    provider = SignalProvider.objects.get(user=member)
    assert provider.status == SignalProvider.Status.PENDING and provider.performance_fee_percent == Decimal("12.5")
    assert "Waiting for a curator" in response.content.decode()


def test_a_rejected_applicant_reads_the_curators_reason_and_may_apply_again(signed_in, member):
    signed_in.post(
        "/provider/", {"display_name": "Mia Signals", "risk_level": "low", "performance_fee_percent": "10", "subscription_fee_monthly": "0"}
    )
    curator = make_member("cora", "Cora", is_staff=True, is_superuser=True)
    provider_transition(provider_id=member.signal_provider.pk, action="reject", actor=curator, reason="Too few trades to judge yet.")

    html = signed_in.get("/provider/").content.decode()

    assert "Rejected" in html and "Too few trades to judge yet." in html and "Apply again" in html


# --- Invoices --------------------------------------------------------------------------------


def test_invoice_lines_show_their_basis_and_the_stripe_status(client):
    ledger = october_ledger()
    client.force_login(ledger["ana"])

    html = client.get("/invoices/").content.decode()

    assert "October 2026" in html and "68.89\u00a0USD" in html and "Paid" in html
    assert "20.00\u00a0% of the profit above your high-water mark" in html
    assert "+199.45\u00a0USD" in html and "0.00\u00a0USD before, 199.45\u00a0USD after" in html


def test_invoices_are_only_ones_own(signed_in):
    october_ledger()

    html = signed_in.get("/invoices/").content.decode()

    assert "October 2026" not in html and "No invoice yet" in html


# --- Ratings ---------------------------------------------------------------------------------


@pytest.fixture
def provider_strategy(db):
    alice = make_member("alice", "Alice Trades")
    make_provider(alice)
    return make_leader(alice, name="Steady Breakouts")


def test_a_follower_who_copied_rates_and_then_edits_the_rating(signed_in, member, provider_strategy):
    make_copy(member, provider_strategy)

    signed_in.post(f"/leaders/{provider_strategy.pk}/rate/", {"stars": "4", "comment": "Calm."})
    html = signed_in.get(f"/leaders/{provider_strategy.pk}/").content.decode()
    signed_in.post(f"/leaders/{provider_strategy.pk}/rate/", {"stars": "2", "comment": "Less calm."})

    rating = Rating.objects.get(user=member)
    assert "Edit your rating" in html and "Calm." in html
    assert rating.stars == 2 and rating.comment == "Less calm."


def test_the_services_refusal_to_rate_is_shown_inline(signed_in, member, provider_strategy):
    response = signed_in.post(f"/leaders/{provider_strategy.pk}/rate/", {"stars": "5"})

    assert response.status_code == 400
    assert "Only users who have copied one of this provider&#x27;s strategies can rate it." in response.content.decode()
    assert not Rating.objects.exists()


def test_a_copy_too_fresh_to_rate_gets_the_services_reason_inline(signed_in, member, provider_strategy):
    Copy.objects.filter(pk=make_copy(member, provider_strategy).pk).update(started_at=timezone.now())

    response = signed_in.post(f"/leaders/{provider_strategy.pk}/rate/", {"stars": "5"})

    assert response.status_code == 400
    assert "You can rate this provider once one of your copied trades of its strategies has closed" in response.content.decode()
    assert not Rating.objects.exists()
