"""The only exchange errors the rest of the code sees.

Every ccxt exception is mapped into one of three kinds in `exchanges.gateways.ccxt_gateway`
(`map_ccxt_error`); nothing ccxt-specific leaks past `exchanges/`.

- TransientExchangeError: nothing happened at the exchange; retry later (429, 418, 5xx
  before the order was taken, network refused).
- UnknownOutcomeError: the order may or may not exist (timeout after sending); look it up
  by client order id before any retry.
- PermanentExchangeError: retrying cannot help; fail with `reason`.
"""


class ExchangeError(Exception):
    reason = "exchange_error"

    def __init__(self, message: str = "", *, reason: str | None = None, retry_after: float | None = None):
        super().__init__(message or self.reason)
        self.message = message or self.reason
        if reason:
            self.reason = reason
        self.retry_after = retry_after


class TransientExchangeError(ExchangeError):
    reason = "exchange_unavailable"


class RateLimitedError(TransientExchangeError):
    reason = "rate_limited"


class UnknownOutcomeError(ExchangeError):
    reason = "unknown_outcome"


class PermanentExchangeError(ExchangeError):
    reason = "rejected"


class InvalidCredentialsError(PermanentExchangeError):
    reason = "invalid_credentials"


class InsufficientFundsError(PermanentExchangeError):
    reason = "insufficient_funds"


class OrderRejectedError(PermanentExchangeError):
    """Filter failures (LOT_SIZE, NOTIONAL, PRICE_FILTER...) and other invalid orders."""

    reason = "order_rejected"


class DuplicateClientOrderIdError(PermanentExchangeError):
    """The exchange already has an order with this client order id: it was placed before."""

    reason = "duplicate_client_order_id"


class OrderNotFoundError(PermanentExchangeError):
    reason = "order_not_found"


class UnknownSymbolError(PermanentExchangeError):
    reason = "unknown_symbol"


class BelowExchangeMinimumError(PermanentExchangeError):
    """Raised by our own order rules before anything is sent."""

    reason = "below_exchange_minimum"
