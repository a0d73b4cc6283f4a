"""REST for billing (invoices, earnings, payout preview and creation), the run_billing command, admin pages."""

import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from billing.models import FeeAssessment, Invoice, Payout
from billing.services import billing_period_run, payout_record_manual, payouts_run, stripe_event_handle
from copytrade.models import Strategy
from core.selectors import display_name
from devtools.stripe_standin import build_event
from tests.billing.factories import add_trade, at, make_copy, make_provider, make_strategy, make_user, month
from tests.fixtures.stripe import STANDIN_API_KEY
from tests.marketplace.support import make_curator

OCTOBER = month(2026, 10)


@pytest.fixture(autouse=True)
def _ledger_only(settings):
    settings.STRIPE_API_KEY = ""


def _pay(invoice: Invoice) -> None:
    stripe_event_handle(
        event=build_event(
            event_type="invoice.paid", obj={"id": f"in_{invoice.id}", "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}}
        )
    )


@pytest.fixture
def provider_user(db):
    user = make_user("provider")
    make_provider(user, subscription="49.00", performance_percent="20")
    return user


@pytest.fixture
def billed_october(provider_user, follower):
    """The follower copies the provider (paid) and the stranger copies it too (unpaid)."""
    strategy = make_strategy(provider_user, kind=Strategy.Kind.MANUAL)
    for user, pnl in ((follower, "500"), (make_user("second"), "100")):
        copy = make_copy(user, strategy, started_at=at(2026, 9, 1))
        add_trade(copy, pnl=pnl, finished_at=at(2026, 10, 12))
    billing_period_run(period=OCTOBER)
    _pay(Invoice.objects.get(follower=follower, period=OCTOBER))
    return strategy


# --- invoices ----------------------------------------------------------------------------


def test_a_follower_lists_only_their_own_invoices_with_their_lines(client_for, follower, billed_october):
    response = client_for(follower).get("/api/billing/invoices/")

    assert response.status_code == 200
    (invoice,) = response.json()["results"]
    assert (invoice["period"], invoice["total"], invoice["status"]) == ("2026-10", "149.00", "paid")
    assert sorted((line["kind"], line["amount"]) for line in invoice["lines"]) == [
        ("performance_fee", "100.00"),
        ("subscription", "49.00"),
    ]
    assert "payee_amount" not in invoice["lines"][0]
    # Each line with its basis, as the invoices page shows it: 20 % of 500 above a mark of 0,
    # 49.00 a month for the 31 days of October.
    for line in invoice["lines"]:
        assert line["basis"] == {
            "period_net_pnl": "500.00000000",
            "cumulative_pnl": "500.00000000",
            "hwm_before": "0.00000000",
            "hwm_after": "500.00000000",
            "rate_percent": "20.00",
            "subscription_fee_monthly": "49.00000000",
            "live_days": 31,
            "days_in_period": 31,
        }


def test_a_stranger_sees_no_invoices_and_anonymous_users_are_refused(client_for, stranger, api_client, billed_october):
    assert client_for(stranger).get("/api/billing/invoices/").json()["results"] == []
    assert api_client.get("/api/billing/invoices/").status_code == 401


# --- earnings ----------------------------------------------------------------------------


def test_a_leader_sees_earnings_by_month_by_follower_and_all_time_pending_vs_paid(client_for, provider_user, follower, billed_october):
    response = client_for(provider_user).get("/api/billing/earnings")

    assert response.status_code == 200
    body = response.json()
    # The follower paid 149.00 (80 % = 119.20); the second follower's 69.00 is billed, unpaid.
    assert body["all_time"] == {
        "gross": "149.00",
        "earned": "119.20",
        "paid_out": "0.00",
        "pending_payout": "119.20",
        "awaiting_collection": "55.20",
    }
    assert [(row["period"], row["earned"]) for row in body["by_month"]] == [("2026-10", "119.20")]
    second = Invoice.objects.get(follower__username="second", period=OCTOBER).follower
    assert [(row["follower_name"], row["earned"], row["awaiting_collection"]) for row in body["by_follower"]] == [
        (display_name(follower), "119.20", "0.00"),
        (display_name(second), "0.00", "55.20"),
    ]
    assert not {"follower", "second"} & {str(value) for row in body["by_follower"] for value in row.values()}  # never usernames

    # once the payout is made, the earnings move from pending to paid
    _pay(Invoice.objects.get(follower__username="second", period=OCTOBER))
    payouts_run()
    payout = Payout.objects.get(payee=provider_user, period=OCTOBER)
    payout_record_manual(payout_id=payout.id, tx_hash="a" * 64)

    after = client_for(provider_user).get("/api/billing/earnings").json()["all_time"]
    assert (after["earned"], after["paid_out"], after["pending_payout"]) == ("174.40", "174.40", "0.00")


# --- payouts -----------------------------------------------------------------------------


def _calculate(client, provider_user, **params):
    provider_id = provider_user.signal_provider.id
    return client.get("/api/marketplace/payouts/calculate", {"signal_provider_id": provider_id, **params})


def test_a_provider_previews_the_80_20_split_of_the_fees_collected_in_the_window(client_for, provider_user, billed_october):
    response = _calculate(client_for(provider_user), provider_user, period_days=30)

    assert response.status_code == 200
    body = response.json()
    assert (body["gross"], body["payee_amount"], body["platform_amount"]) == ("149.00", "119.20", "29.80")
    assert (body["subscription_fees"], body["performance_fees"], body["awaiting_collection"]) == ("49.00", "100.00", "69.00")
    assert (body["payee_share"], body["paid_invoices"]) == ("0.8000", 1)


def test_only_the_provider_or_the_billing_role_may_preview_its_payout(
    client_for, provider_user, stranger, staff, billing_operator, billed_october
):
    assert _calculate(client_for(billing_operator), provider_user).status_code == 200
    assert _calculate(client_for(staff), provider_user).status_code == 404
    assert _calculate(client_for(stranger), provider_user).status_code == 404


@pytest.mark.parametrize(
    "params",
    [{"period_days": -30}, {"period_days": 0}, {"period_days": "thirty"}, {"period_days": 10_000}, {"signal_provider_id": "x"}],
)
def test_a_bad_preview_request_is_a_400(client_for, provider_user, params):
    response = client_for(provider_user).get(
        "/api/marketplace/payouts/calculate", {"signal_provider_id": provider_user.signal_provider.id, **params}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}


def test_the_billing_role_creates_a_providers_payout_for_a_billed_month_once(client_for, billing_operator, provider_user, billed_october):
    payload = {"signal_provider_id": provider_user.signal_provider.id, "period": "2026-10"}

    first = client_for(billing_operator).post("/api/marketplace/payouts/create", payload, format="json")
    second = client_for(billing_operator).post("/api/marketplace/payouts/create", payload, format="json")

    assert (first.status_code, second.status_code) == (200, 200)  # the monthly run already made it
    assert first.json()["id"] == second.json()["id"]
    assert (first.json()["status"], first.json()["gross"]) == ("pending", "149.00")
    assert Payout.objects.filter(payee=provider_user).count() == 1


def test_creating_a_payout_is_for_the_billing_role_only(client_for, provider_user, staff, billed_october):
    payload = {"signal_provider_id": provider_user.signal_provider.id, "period": "2026-10"}
    curator = make_curator()
    before = list(Payout.objects.values_list("id", "status", "gross"))

    for user in (provider_user, staff, curator):
        response = client_for(user).post("/api/marketplace/payouts/create", payload, format="json")
        assert response.status_code == 403, user
        assert response.json()["message"] == "Only the billing role creates payouts."
    assert list(Payout.objects.values_list("id", "status", "gross")) == before


@pytest.mark.parametrize(
    ("period", "message"),
    [("2026-13", "Unknown period"), ("last month", "Unknown period"), (f"{timezone.now():%Y-%m}", "not ended"), ("2099-01", "not ended")],
)
def test_creating_a_payout_for_an_unknown_or_future_period_is_a_400_and_creates_nothing(
    client_for, billing_operator, provider_user, period, message
):
    response = client_for(billing_operator).post(
        "/api/marketplace/payouts/create", {"signal_provider_id": provider_user.signal_provider.id, "period": period}, format="json"
    )

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert Payout.objects.count() == 0


def test_creating_a_payout_for_a_month_with_nothing_billed_is_a_400(client_for, billing_operator, provider_user):
    response = client_for(billing_operator).post(
        "/api/marketplace/payouts/create", {"signal_provider_id": provider_user.signal_provider.id, "period": "2026-01"}, format="json"
    )

    assert response.status_code == 400
    assert Payout.objects.count() == 0


# --- the run_billing command -------------------------------------------------------------


def test_run_billing_bills_a_month_and_prints_a_summary_table(provider_user, follower):
    strategy = make_strategy(provider_user, kind=Strategy.Kind.MANUAL)
    add_trade(make_copy(follower, strategy, started_at=at(2026, 9, 1)), pnl="500", finished_at=at(2026, 10, 12))
    out = StringIO()

    call_command("run_billing", "--period", "2026-10", stdout=out, stderr=StringIO())

    table = out.getvalue()
    assert "copies assessed" in table and "149.00" in table
    assert "not configured: invoices stay in our ledger" in table
    assert Invoice.objects.get(follower=follower, period=OCTOBER).total == Decimal("149.00")


def test_a_dry_run_reports_the_same_figures_and_stores_nothing(provider_user, follower, stripe_standin):
    strategy = make_strategy(provider_user, kind=Strategy.Kind.MANUAL)
    add_trade(make_copy(follower, strategy, started_at=at(2026, 9, 1)), pnl="500", finished_at=at(2026, 10, 12))
    out = StringIO()

    call_command("run_billing", "--period", "2026-10", "--dry-run", stdout=out, stderr=StringIO())

    assert "dry run" in out.getvalue() and "149.00" in out.getvalue()
    assert (FeeAssessment.objects.count(), Invoice.objects.count(), Payout.objects.count()) == (0, 0, 0)
    assert stripe_standin.request_log() == []


@pytest.mark.django_db
@pytest.mark.parametrize("period", ["2026-13", "soon", f"{timezone.now():%Y-%m}", f"{timezone.now() + timedelta(days=40):%Y-%m}"])
def test_run_billing_refuses_an_unknown_or_future_period(period):
    with pytest.raises(CommandError):
        call_command("run_billing", "--period", period, stdout=StringIO(), stderr=StringIO())

    assert Invoice.objects.count() == 0


# --- admin -------------------------------------------------------------------------------


def test_admin_pages_show_the_ledger_say_when_stripe_is_off_and_never_show_a_key(settings, billing_operator, billed_october):
    settings.STRIPE_API_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_never_rendered"
    browser = Client()
    browser.force_login(billing_operator)
    invoice = Invoice.objects.filter(status=Invoice.Status.DRAFT).first()

    pages = {
        url: browser.get(url)
        for url in (
            "/admin/billing/feeassessment/",
            f"/admin/billing/feeassessment/{FeeAssessment.objects.first().id}/change/",
            "/admin/billing/invoice/",
            f"/admin/billing/invoice/{invoice.id}/change/",
            "/admin/billing/payout/",
            f"/admin/billing/payout/{Payout.objects.first().id}/change/",
            "/admin/billing/billingaccount/",
        )
    }

    for url, response in pages.items():
        assert response.status_code == 200, url
        assert b"whsec_never_rendered" not in response.content
    assert b"STRIPE_API_KEY is not set" in pages["/admin/billing/invoice/"].content
    assert b"ledger only: not sent" in pages["/admin/billing/invoice/"].content

    settings.STRIPE_API_KEY = STANDIN_API_KEY
    with_key = browser.get("/admin/billing/invoice/")
    assert STANDIN_API_KEY.encode() not in with_key.content
    assert b"STRIPE_API_KEY is not set" not in with_key.content


def test_the_schema_documents_invoice_and_payout_periods_as_the_months_they_are(
    client_for, follower, billing_operator, provider_user, billed_october
):
    # Found by the API fuzz test: the period is "YYYY-MM" but the schema promised a full date.
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    invoice = client_for(follower).get("/api/billing/invoices/").json()["results"][0]
    payout = (
        client_for(billing_operator)
        .post(
            "/api/marketplace/payouts/create", {"signal_provider_id": provider_user.signal_provider.id, "period": "2026-10"}, format="json"
        )
        .json()
    )

    for component, body in (("InvoiceOutput", invoice), ("PayoutOutput", payout)):
        period = components[component]["properties"]["period"]
        assert (period["type"], period.get("format")) == ("string", None)
        assert re.fullmatch(period["pattern"], body["period"]), (component, body["period"])


def test_re_running_a_billed_month_says_it_did_nothing_new_also_as_a_dry_run(provider_user, follower):
    # given: October billed once, with two followers
    strategy = make_strategy(provider_user, kind=Strategy.Kind.MANUAL)
    add_trade(make_copy(follower, strategy, started_at=at(2026, 9, 1)), pnl="500", finished_at=at(2026, 10, 12))
    add_trade(make_copy(make_user("bea"), strategy, started_at=at(2026, 9, 1)), pnl="100", finished_at=at(2026, 10, 12))
    first = StringIO()
    call_command("run_billing", "--period", "2026-10", stdout=first, stderr=StringIO())
    assert "this run created: 2 assessments, 2 invoices (" in first.getvalue()

    # when: run again, and as a dry run
    again, dry = StringIO(), StringIO()
    call_command("run_billing", "--period", "2026-10", stdout=again, stderr=StringIO())
    call_command("run_billing", "--period", "2026-10", "--dry-run", stdout=dry, stderr=StringIO())

    # then: each says what it did this time, not the first run's figures
    for out in (again, dry):
        assert "nothing new: 2 invoices already existed (2 assessments" in out.getvalue(), out.getvalue()
        assert re.search(r"^invoices created now +0$", out.getvalue(), re.MULTILINE), out.getvalue()
        assert re.search(r"^  already existed +2$", out.getvalue(), re.MULTILINE), out.getvalue()
    assert re.search(r"^  total invoiced now +0\.00 USD$", again.getvalue(), re.MULTILINE), again.getvalue()
    assert Invoice.objects.filter(period=OCTOBER).count() == 2
