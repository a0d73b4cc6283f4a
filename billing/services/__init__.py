"""Writes for billing: assess → invoice → send, Stripe webhook events, payouts.

Every step is idempotent and can be re-run after a crash at any point: an assessment is
unique per (copy, month), an invoice per (follower, month), a payout per (payee, month),
a Stripe event by its id; Stripe calls carry idempotency keys from our ids and the ids
Stripe returns are stored as soon as we have them. Network calls are made outside
transactions; the row they belong to is re-read and changed with a conditional update.

One module per step; callers import from here.
"""

from billing.services.assessments import fee_assessment_create
from billing.services.invoices import invoice_create, invoice_send
from billing.services.payouts import TX_HASH, payout_pay, payout_prepare, payout_record_manual, payouts_prepare_all
from billing.services.reconciliation import (
    ReconciliationSummary,
    invoice_ids_to_reconcile,
    invoice_reconcile,
    payout_ids_to_reconcile,
    payout_transfer_reconcile,
    stripe_drafts_orphaned_delete,
    stripe_reconcile,
)
from billing.services.runs import (
    BillingRunSummary,
    FollowerBillingOutcome,
    PayoutRunSummary,
    billing_follower_run,
    billing_period_run,
    payouts_run,
)
from billing.services.stripe_events import stripe_event_handle, stripe_event_validate, stripe_invoice_apply, stripe_transfer_apply

__all__ = [
    "TX_HASH",
    "ReconciliationSummary",
    "invoice_ids_to_reconcile",
    "invoice_reconcile",
    "payout_ids_to_reconcile",
    "payout_transfer_reconcile",
    "stripe_drafts_orphaned_delete",
    "stripe_reconcile",
    "stripe_invoice_apply",
    "stripe_transfer_apply",
    "BillingRunSummary",
    "FollowerBillingOutcome",
    "PayoutRunSummary",
    "billing_follower_run",
    "billing_period_run",
    "fee_assessment_create",
    "invoice_create",
    "invoice_send",
    "payout_pay",
    "payout_prepare",
    "payout_record_manual",
    "payouts_prepare_all",
    "payouts_run",
    "stripe_event_handle",
    "stripe_event_validate",
]
