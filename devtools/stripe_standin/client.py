"""Test-side helpers for the Stripe stand-in: its control endpoints and signed webhook events."""

import hashlib
import hmac
import secrets
import time

import requests
import stripe

CONTROL_TIMEOUT_SECONDS = 5


class StandinClient:
    """The stand-in's control endpoints (faults, reset, request log, stored objects)."""

    def __init__(self, *, base_url: str):
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()

    def _call(self, method: str, action: str, payload: dict | None = None) -> dict:
        response = self._session.request(method, f"{self.base_url}/_standin/{action}", json=payload, timeout=CONTROL_TIMEOUT_SECONDS)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset")

    def fail_next(
        self,
        *,
        count: int = 1,
        status: int = 500,
        path: str | None = None,
        method: str | None = None,
        after_operation: bool = False,
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next `count` API requests (whose path fully matches the regex `path`) with `status`.

        `after_operation`: perform and store the operation first, then lose its answer.
        `should_retry`: send `Stripe-Should-Retry` with this value (None: no header).
        """
        self._call(
            "POST",
            "faults",
            {
                "count": count,
                "status": status,
                "path": path,
                "method": method,
                "after_operation": after_operation,
                "should_retry": should_retry,
            },
        )

    def request_log(self) -> list[dict]:
        """Every API request so far: method, path, params, idempotency_key, status, replayed."""
        return self._call("GET", "requests")["data"]

    def objects(self) -> dict[str, list[dict]]:
        """Stored objects by kind: customers, invoices, invoiceitems, transfers."""
        return self._call("GET", "objects")

    def invoice_collect(self, stripe_invoice_id: str) -> dict:
        """Stripe collects the open invoice (the card is charged); no webhook is sent."""
        return self._call("POST", f"invoices/{stripe_invoice_id}/collect")

    def invoice_uncollectible(self, stripe_invoice_id: str) -> dict:
        """Stripe gives up collecting the open invoice; no webhook is sent."""
        return self._call("POST", f"invoices/{stripe_invoice_id}/uncollectible")

    def transfer_reverse(self, transfer_id: str, *, amount_cents: int | None = None) -> dict:
        """Take back (part of) a transfer from the connected account; no webhook is sent."""
        return self._call("POST", f"transfers/{transfer_id}/reverse", {"amount": amount_cents})

    def counts(self) -> dict[str, int]:
        return {kind: len(stored) for kind, stored in self.objects().items()}


def sign_webhook_payload(*, payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header Stripe sends: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def build_event(*, event_type: str, obj: dict) -> dict:
    """A Stripe event as webhooks deliver it, carrying a snapshot of `obj`."""
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
