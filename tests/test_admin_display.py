"""What staff read in admin: titles that say what a row is, amounts in cents with their currency."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import Client

from billing.models import BillingAccount, InvoiceLine, StripeEvent
from copytrade.models import LeaderPosition
from core.models import Notification
from core.money import format_money, format_quantity
from exchanges.models import ExchangeAccount, PaperBalance
from marketplace.models import ProviderEvent, ProviderMetrics, Rating, SignalProvider
from tests.billing.ledger import october_ledger
from tests.marketplace.support import make_trade, make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("68.885"), "usd", "68.89 USD"),
        (Decimal("0E-8"), "usd", "0.00 USD"),
        (Decimal("29.00000000"), "USDT", "29.00 USDT"),
        (Decimal("10250.5"), "USDT", "10,250.50 USDT"),
        (None, "usd", "–"),
    ],
)
def test_money_reads_in_cents_with_its_currency(amount, currency, shown):
    assert format_money(amount, currency) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(Decimal("0.015000000000"), "0.015"), (Decimal("0E-12"), "0"), (Decimal("65000.00000000"), "65,000"), (Decimal("1E+2"), "100")],
)
def test_quantities_keep_their_digits_without_padding_or_exponents(value, shown):
    assert format_quantity(value) == shown


@pytest.fixture
def ledger():
    return october_ledger()


def test_every_ledger_row_says_what_it_is(ledger):
    assert str(ledger["invoice"]) == "Invoice 2026-10 · follower ana · 68.89 USD · paid"
    assert str(ledger["payout"]) == "Payout 2026-10 · payee alice · 55.11 USD · awaiting manual"
    assert str(ledger["assessment"]) == "Fees 2026-10 · ana copying Alice Swing · 68.89 USD"
    assert str(InvoiceLine.objects.get()) == "Performance fee, Alice Swing, 2026-10 · 39.89 USD"
    assert str(BillingAccount.objects.create(user=ledger["ana"])) == "billing account of ana"
    assert str(StripeEvent.objects.create(event_id="evt_1", type="invoice.paid")) == "Stripe event evt_1 · invoice.paid"


def test_trading_and_marketplace_rows_say_what_they_are(ledger):
    strategy, ana = ledger["strategy"], ledger["ana"]
    trade = make_trade(strategy, sequence=3, side="buy", amount="0.015", price="65000", traded_at=datetime(2026, 10, 2, tzinfo=UTC))
    account = ExchangeAccount.objects.get(owner=ana)

    assert str(trade) == "Alice Swing #3 · buy 0.015 BTC/USDT at 65,000 · open"
    assert str(ledger["copy"]) == "ana copies Alice Swing · active"
    assert str(account) == "paper (paper) of ana"
    assert str(PaperBalance(account=account, currency="USDT", free=Decimal("100.500000000000"), locked=0)) == "100.5 USDT free, 0 locked"
    assert str(LeaderPosition(strategy=strategy, symbol="BTC/USDT", quantity=Decimal("0.015000000000"))) == "Alice Swing · BTC/USDT 0.015"
    event = ProviderEvent(provider=ledger["alice"], action="approve", field="status", from_value="pending", to_value="approved")
    assert str(event) == "Alice · approve: pending → approved · by the platform"
    assert str(Rating(provider=ledger["alice"], user=ana, stars=5)) == "5★ for Alice by ana"
    assert str(ProviderMetrics(provider=ledger["alice"], window="30d", as_of=date(2026, 10, 31))) == "Alice · 30d metrics as of 2026-10-31"
    assert str(Notification(user=ana, kind="invoice", title="Your October invoice")) == "Your October invoice · to ana · invoice"


def test_the_billing_pages_show_amounts_in_cents_with_the_currency(ledger, billing_operator):
    client = Client()
    client.force_login(billing_operator)

    invoices = client.get("/admin/billing/invoice/").content.decode()
    invoice = client.get(f"/admin/billing/invoice/{ledger['invoice'].pk}/change/").content.decode()
    payouts = client.get("/admin/billing/payout/").content.decode()
    fees = client.get("/admin/billing/feeassessment/").content.decode()

    assert "68.89 USD" in invoices and "2026-10" in invoices
    assert "Invoice 2026-10 · follower ana · 68.89 USD · paid" in invoice and "31.91 USD" in invoice
    assert "55.11 USD" in payouts and "13.78 USD" in payouts
    assert "39.89 USD" in fees and "20.00 %" in fees
    for page in (invoices, invoice, payouts, fees):
        assert "0E-8" not in page and "68.89000000" not in page


def test_the_provider_list_shows_the_subscription_in_cents(ledger):
    SignalProvider.objects.filter(pk=ledger["alice"].pk).update(subscription_fee_monthly=Decimal("29"))
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))

    page = client.get("/admin/marketplace/signalprovider/").content.decode()

    assert "29.00 USD" in page
