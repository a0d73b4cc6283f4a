"""The only payment-provider errors the rest of the code sees.

Every Stripe SDK exception is mapped once, in `billing.stripe_gateway`; nothing
stripe-specific leaks past it.
"""


class PaymentProviderError(Exception):
    """A call to the payment provider failed.

    `transient`: retrying the same call later can succeed (network, 5xx, rate limit).
    Retrying is always safe because every write carries an idempotency key derived from
    our own ids. Otherwise retrying cannot help (bad request, auth, a key reused with
    different parameters) and the caller fails with the message.
    """

    def __init__(self, message: str, *, transient: bool, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.code = code


class WebhookSignatureError(Exception):
    """A webhook's signature is missing, wrong, too old, or its body is not an event."""
