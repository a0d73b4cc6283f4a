"""Every reason the product stores reads as a sentence wherever a person sees it: the codes
live in TextChoices on the models, the words in their labels and copytrade.reasons."""

from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade, Copy
from copytrade.reasons import copied_trade_reason_text, pause_reason_text, sentence
from core.models import Notification
from exchanges import errors
from exchanges.models import ExchangeAccount


def _reads_as_words(text: str, code: str) -> None:
    assert text and text != code, code
    assert "_" not in text, text
    assert len(text.split()) >= 3, text


@pytest.mark.parametrize("code", CopiedTrade.Reason.values)
def test_every_copied_trade_reason_renders_a_sentence(code):
    trade = CopiedTrade(reason=code, symbol="BTC/USDT", side="buy")

    _reads_as_words(copied_trade_reason_text(trade), code)


@pytest.mark.parametrize("code", Copy.PauseReason.values)
def test_every_pause_reason_renders_a_sentence(code):
    _reads_as_words(pause_reason_text(Copy(pause_reason=code)), code)


@pytest.mark.parametrize(
    "choices", [ExchangeAccount.StatusReason, Notification.Kind, CopiedTrade.Kind], ids=lambda choices: choices.__qualname__
)
def test_every_other_stored_code_has_words(choices):
    for member in choices:
        _reads_as_words(str(member.label), member.value)


EXCHANGE_ERRORS = [value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, errors.ExchangeError)]


@pytest.mark.parametrize("error", EXCHANGE_ERRORS, ids=lambda error: error.__name__)
def test_every_exchange_error_kind_has_a_sentence_for_people(error):
    _reads_as_words(error().message, error.reason)


def test_the_numbers_a_reason_needs_come_from_its_columns_not_from_prose():
    below = CopiedTrade(reason=CopiedTrade.Reason.BELOW_EXCHANGE_MINIMUM, symbol="ETH/USDT:USDT", follower_size_quote=Decimal("3.5"))
    slipped = CopiedTrade(
        reason=CopiedTrade.Reason.SLIPPAGE_EXCEEDED,
        symbol="BTC/USDT",
        reason_detail={"gap_percent": "1.50", "price": "65975.00000000", "leader_price": "65000.00000000", "limit_percent": "1.00"},
    )
    partial = CopiedTrade(
        reason=CopiedTrade.Reason.PARTIAL_FILL,
        symbol="BTC/USDT",
        filled_amount=Decimal("0.004000000000"),
        requested_amount=Decimal("0.010000000000"),
    )
    stopped = Copy(pause_reason=Copy.PauseReason.STOP_LOSS, pause_detail={"drawdown_percent": "25.1234", "limit_percent": "25.00"})

    assert copied_trade_reason_text(below) == "your share (3.50 USDT) was below the exchange's minimum order"
    assert copied_trade_reason_text(slipped) == (
        "the price (65,975) had moved 1.5 % from the leader's (65,000), more than your slippage limit of 1 %"
    )
    assert copied_trade_reason_text(partial) == "the exchange filled 0.004 of the 0.01 requested"
    assert pause_reason_text(stopped) == (
        "its stop-loss closed its positions at market: the copy fell 25.12 % below its peak, past your 25 % limit"
    )
    assert sentence(pause_reason_text(stopped)).startswith("Its stop-loss") and sentence("x.") == "X."


def test_a_refused_key_reads_as_what_to_do_never_as_the_exchanges_text():
    import ccxt

    from exchanges.gateways.ccxt_gateway import map_ccxt_error

    mapped = map_ccxt_error(ccxt.AuthenticationError('binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'))

    assert mapped.message == "the exchange refused this API key: check key, secret and trading permission"
    assert "-2015" in mapped.detail and "-2015" not in mapped.message
