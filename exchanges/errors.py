"""The only exchange errors the rest of the code sees.

Every ccxt exception is mapped into one of three kinds in `exchanges.gateways.ccxt_gateway`
(`map_ccxt_error`); nothing ccxt-specific leaks past `exchanges/`.

- TransientExchangeError: nothing happened at the exchange; retry later (429, 418, 5xx
  before the order was taken, network refused).
- UnknownOutcomeError: the order may or may not exist (timeout after sending); look it up
  by client order id before any retry.
- PermanentExchangeError: retrying cannot help; fail with `reason`.

`message` is what a person may read; each kind has its sentence (`sentence`), used when
the exchange's own text is all there is. The exchange's raw answer (`detail`: its error
class, JSON body, codes) is for the log only, never for a page, a mail or an API answer.
"""


class ExchangeError(Exception):
    reason = "exchange_error"
    sentence = "the exchange answered with an error"

    def __init__(self, message: str = "", *, reason: str | None = None, retry_after: float | None = None, detail: str = ""):
        super().__init__(message or self.sentence)
        self.message = message or self.sentence
        if reason:
            self.reason = reason
        self.retry_after = retry_after
        self.detail = detail or self.message


class TransientExchangeError(ExchangeError):
    reason = "exchange_unavailable"
    sentence = "the exchange did not answer; nothing was changed there"


class RateLimitedError(TransientExchangeError):
    reason = "rate_limited"
    sentence = "the exchange asked for fewer requests; it is asked again shortly"


class UnknownOutcomeError(ExchangeError):
    reason = "unknown_outcome"
    sentence = "the exchange did not confirm whether it took the order; it is looked up before anything is sent again"


class PermanentExchangeError(ExchangeError):
    reason = "rejected"
    sentence = "the exchange refused the request"


class InvalidCredentialsError(PermanentExchangeError):
    reason = "invalid_credentials"
    sentence = "the exchange refused this API key: check key, secret and trading permission"


class InsufficientFundsError(PermanentExchangeError):
    reason = "insufficient_funds"
    sentence = "the exchange said the account's free balance is too low for this order"


class OrderRejectedError(PermanentExchangeError):
    """Filter failures (LOT_SIZE, NOTIONAL, PRICE_FILTER...) and other invalid orders."""

    reason = "order_rejected"
    sentence = "the exchange refused the order: its size or price is outside the market's limits"


class DuplicateClientOrderIdError(PermanentExchangeError):
    """The exchange already has an order with this client order id: it was placed before."""

    reason = "duplicate_client_order_id"
    sentence = "the exchange already has this order"


class OrderNotFoundError(PermanentExchangeError):
    reason = "order_not_found"
    sentence = "the exchange has no such order"


class UnknownSymbolError(PermanentExchangeError):
    reason = "unknown_symbol"
    sentence = "the exchange does not list this market"


class BelowExchangeMinimumError(PermanentExchangeError):
    """Raised by our own order rules before anything is sent."""

    reason = "below_exchange_minimum"
    sentence = "the order is below the exchange's minimum"
