"""A small billed month, as the admin pages show it (tests/test_admin_display.py, the browser test)."""

from datetime import date
from decimal import Decimal

from billing.models import FeeAssessment, Invoice, InvoiceLine, Payout
from tests.marketplace.support import make_copy, make_provider, make_strategy, make_user


def october_ledger() -> dict:
    """Ana follows Alice's strategy; October was billed and paid; Alice waits for a manual payout."""
    ana, alice_user = make_user("ana"), make_user("alice")
    alice = make_provider(alice_user, display_name="Alice")
    strategy = make_strategy(alice_user, name="Alice Swing")
    copy = make_copy(ana, strategy)
    assessment = FeeAssessment.objects.create(
        copy=copy,
        follower=ana,
        strategy=strategy,
        payee=alice_user,
        program="marketplace",
        period=date(2026, 10, 1),
        period_net_pnl=Decimal("199.45"),
        cumulative_pnl=Decimal("199.45"),
        hwm_before=0,
        hwm_after=Decimal("199.45"),
        rate_percent=Decimal("20"),
        payee_share=Decimal("0.80"),
        performance_fee=Decimal("39.89"),
        subscription_fee_monthly=Decimal("29"),
        live_days=31,
        days_in_period=31,
        subscription_fee=Decimal("29"),
        total=Decimal("68.89"),
    )
    invoice = Invoice.objects.create(follower=ana, period=date(2026, 10, 1), currency="usd", total=Decimal("68.89"), status="paid")
    payout = Payout.objects.create(
        payee=alice_user,
        period=date(2026, 10, 1),
        currency="usd",
        gross=Decimal("68.89"),
        payee_amount=Decimal("55.11"),
        platform_amount=Decimal("13.78"),
        status="awaiting_manual",
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        assessment=assessment,
        kind="performance_fee",
        description="Performance fee, Alice Swing, 2026-10",
        amount=Decimal("39.89"),
        payee=alice_user,
        program="marketplace",
        payee_amount=Decimal("31.91"),
        platform_amount=Decimal("7.98"),
        payout=payout,
    )
    return {"ana": ana, "alice": alice, "strategy": strategy, "copy": copy, "assessment": assessment, "invoice": invoice, "payout": payout}
