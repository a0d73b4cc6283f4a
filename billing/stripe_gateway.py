"""Our one way to Stripe: customers, invoices, Connect transfers and webhook verification.

Every write carries an idempotency key derived from our own ids, so any call can be
repeated (by the SDK's own retries within a call, by a task retry or a re-run across
calls) without creating anything twice. Stripe keeps a key for at least 24 hours:
callers store the ids returned here and never re-create what they already hold.
Stripe errors become `billing.errors` here and nowhere else.
"""

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal

import stripe
from django.conf import settings

from billing.errors import PaymentProviderError, WebhookSignatureError
from core.json import json_loads_bounded

# The SDK retries network errors, 409 and 5xx with the same idempotency key, honouring
# Stripe-Should-Retry.
MAX_NETWORK_RETRIES = 2
# Three attempts plus the SDK's backoff stay inside the Celery soft time limit (60 s).
REQUEST_TIMEOUT_SECONDS = 15
WEBHOOK_TOLERANCE_SECONDS = 300
COLLECTION_METHOD = "charge_automatically"
LIST_PAGE_SIZE = 100

# (our invoice line id, amount in cents, currency, description)
InvoiceLine = tuple[int, int, str, str]


def to_cents(amount: Decimal) -> int:
    """Stripe's integer amount for a two-decimal currency; refuses anything not whole cents."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError(f"Not a finite Decimal amount: {amount!r}")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of cents")
    return int(cents)


class StripeGateway:
    def __init__(self, *, api_key: str, api_base: str | None = None):
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            max_network_retries=MAX_NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=REQUEST_TIMEOUT_SECONDS),
        )

    def ensure_customer(self, *, user_id: int, email: str, name: str, existing_customer_id: str | None) -> str:
        """The user's Stripe customer id: the existing one while Stripe still has it, else a new one."""
        idempotency_key = f"customer-{user_id}"
        if existing_customer_id:
            if self._customer_exists(existing_customer_id):
                return existing_customer_id
            # The first key would replay the customer that has since gone.
            idempotency_key = f"customer-{user_id}-replaces-{existing_customer_id}"
        with _mapped_errors("create customer"):
            customer = self._client.v1.customers.create(
                params={"email": email, "name": name, "metadata": {"user_id": str(user_id)}},
                options={"idempotency_key": idempotency_key},
            )
        return customer.id

    def _customer_exists(self, customer_id: str) -> bool:
        with _mapped_errors("retrieve customer"):
            try:
                customer = self._client.v1.customers.retrieve(customer_id)
            except stripe.InvalidRequestError as error:
                if error.http_status == 404:
                    return False
                raise
        return not getattr(customer, "deleted", False)

    def create_invoice(self, *, invoice_id: int, customer_id: str, lines: Sequence[InvoiceLine], metadata: dict[str, str]) -> str:
        """Create the draft invoice, then its items attached to it; the Stripe invoice id.

        The draft comes first so that every item names its invoice: a re-run replays the
        same draft and the same items, and can never attach them to another invoice.
        """
        currencies = {currency.lower() for _, _, currency, _ in lines}
        if len(currencies) != 1:
            raise ValueError(f"An invoice needs lines in exactly one currency, got {sorted(currencies)}")
        (currency,) = currencies
        with _mapped_errors("create invoice"):
            invoice = self._client.v1.invoices.create(
                params={
                    "customer": customer_id,
                    "currency": currency,
                    "collection_method": COLLECTION_METHOD,
                    # Stripe would finalize and charge an auto-advancing draft on its own,
                    # possibly before all items are on it; finalize_invoice turns it on.
                    "auto_advance": False,
                    # Only our items: never sweep in the customer's stray pending items.
                    "pending_invoice_items_behavior": "exclude",
                    "metadata": {**metadata, "invoice_id": str(invoice_id)},
                },
                options={"idempotency_key": f"invoice-{invoice_id}"},
            )
            for line_id, amount_cents, line_currency, description in lines:
                self._client.v1.invoice_items.create(
                    params={
                        "customer": customer_id,
                        "invoice": invoice.id,
                        "amount": amount_cents,
                        "currency": line_currency.lower(),
                        "description": description,
                        "metadata": {"invoice_id": str(invoice_id), "invoice_line_id": str(line_id)},
                    },
                    options={"idempotency_key": f"invoiceitem-{line_id}"},
                )
        return invoice.id

    def finalize_invoice(self, *, invoice_id: int, stripe_invoice_id: str) -> str:
        """Finalize the draft with automatic collection on; its status ("open", "paid" if nothing is due)."""
        with _mapped_errors("finalize invoice"):
            invoice = self._client.v1.invoices.retrieve(stripe_invoice_id)
            # A re-run after the idempotency key expired must not fail on a finalized invoice.
            if invoice.status != "draft":
                return invoice.status
            invoice = self._client.v1.invoices.finalize_invoice(
                stripe_invoice_id,
                params={"auto_advance": True},
                options={"idempotency_key": f"finalize-{invoice_id}"},
            )
        return invoice.status

    def create_transfer(self, *, payout_id: int, amount_cents: int, currency: str, destination: str) -> str:
        """Send a payout to a Connect account; the transfer id."""
        with _mapped_errors("create transfer"):
            transfer = self._client.v1.transfers.create(
                params={
                    "amount": amount_cents,
                    "currency": currency.lower(),
                    "destination": destination,
                    "metadata": {"payout_id": str(payout_id)},
                    # Names the payout where Stripe can be searched for it (metadata cannot):
                    # the reconciliation finds a transfer whose answer never reached us.
                    "transfer_group": transfer_group(payout_id),
                },
                options={"idempotency_key": f"transfer-{payout_id}"},
            )
        return transfer.id

    # --- reads for the reconciliation (billing.services.reconciliation) ---------------

    def retrieve_invoice(self, *, stripe_invoice_id: str) -> dict:
        """The invoice as Stripe has it now: the same object a webhook event carries."""
        with _mapped_errors("retrieve invoice"):
            return self._client.v1.invoices.retrieve(stripe_invoice_id).to_dict()

    def draft_invoices(self) -> Iterator[dict]:
        """Every draft invoice on the account, newest first, page by page."""
        with _mapped_errors("list draft invoices"):
            page = self._client.v1.invoices.list(params={"status": "draft", "limit": LIST_PAGE_SIZE})
            for invoice in page.auto_paging_iter():
                yield invoice.to_dict()

    def delete_draft_invoice(self, *, stripe_invoice_id: str) -> None:
        """Delete a draft (Stripe deletes only drafts); one already gone counts as deleted."""
        with _mapped_errors("delete draft invoice"):
            try:
                self._client.v1.invoices.delete(stripe_invoice_id)
            except stripe.InvalidRequestError as error:
                if error.http_status != 404:
                    raise

    def retrieve_transfer(self, *, transfer_id: str) -> dict:
        with _mapped_errors("retrieve transfer"):
            return self._client.v1.transfers.retrieve(transfer_id).to_dict()

    def find_transfer(self, *, payout_id: int) -> dict | None:
        """The payout's transfer at Stripe, if one was made (its answer may never have reached us)."""
        with _mapped_errors("list transfers"):
            page = self._client.v1.transfers.list(params={"transfer_group": transfer_group(payout_id), "limit": 1})
        return page.data[0].to_dict() if page.data else None


def transfer_group(payout_id: int) -> str:
    return f"payout-{payout_id}"


def stripe_gateway() -> StripeGateway | None:
    """The configured gateway, or None where Stripe billing is off (no STRIPE_API_KEY)."""
    if not settings.STRIPE_API_KEY:
        return None
    return StripeGateway(api_key=settings.STRIPE_API_KEY, api_base=settings.STRIPE_API_BASE or None)


def verify_webhook(*, payload: bytes, sig_header: str | None, secret: str) -> dict:
    """The event in a webhook body, once Stripe's signature over it is checked: signed within
    the replay window (300 s) before now, and not more than that after (the SDK checks only
    the past; a body dated ahead could be held back and replayed until then)."""
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, secret, WEBHOOK_TOLERANCE_SECONDS)
        if _signed_at(sig_header) > time.time() + WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookSignatureError("The signature's timestamp is in the future")
        event = json_loads_bounded(payload.decode("utf-8") if isinstance(payload, bytes) else payload)
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureError(error.user_message) from error
    except ValueError as error:
        raise WebhookSignatureError("The webhook body is not UTF-8 JSON of a sensible depth") from error
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookSignatureError("The webhook body is not a Stripe event")
    return event


def _signed_at(sig_header: str) -> int:
    """The `t=` of a Stripe-Signature header the SDK has just verified (so it is there and an integer)."""
    stamps = [part.split("=", 1)[1] for part in sig_header.split(",") if part.strip().startswith("t=")]
    return int(stamps[0].strip())


@contextmanager
def _mapped_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as error:
        raise PaymentProviderError(
            f"Stripe {operation} failed: {error.user_message}", transient=_is_transient(error), code=error.code
        ) from error


def _is_transient(error: stripe.StripeError) -> bool:
    # Even a lost answer is transient: the retry carries the same idempotency key, so
    # Stripe replays the stored result instead of acting twice.
    if isinstance(error, (stripe.APIConnectionError, stripe.RateLimitError)):
        return True
    status = error.http_status
    return status is not None and (status == 409 or status >= 500)
