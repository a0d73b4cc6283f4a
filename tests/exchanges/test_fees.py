"""A fill's fee in the market's quote, whatever the exchange charged it in (exchanges/fees.py),
priced by the loopback Binance simulator."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from exchanges.fees import fee_in_quote, fee_kept_from_amount
from exchanges.gateways.ccxt_gateway import CcxtGateway

pytestmark = pytest.mark.django_db

PRICE = Decimal("64000")


@pytest.fixture
def gateway(simulated_binance, settings) -> CcxtGateway:
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BNB/USDT", price="640")
    return CcxtGateway.public("binance")


def _in_quote(gateway, fee: str, currency: str, **fill) -> Decimal:
    market = gateway.market("BTC/USDT")
    return fee_in_quote(gateway=gateway, market=market, fee=Decimal(fee), fee_currency=currency, price=PRICE, fill_id="f-1", **fill)


def test_a_fee_in_the_quote_is_kept_as_it_is_and_one_in_the_base_is_priced_at_the_fill(gateway):
    assert _in_quote(gateway, "1.28", "USDT") == Decimal("1.28")
    assert _in_quote(gateway, "1.28", "") == Decimal("1.28")
    assert _in_quote(gateway, "0.00002", "BTC") == Decimal("1.28")


def test_a_fee_in_bnb_of_a_fresh_fill_is_priced_at_the_exchanges_bnb_ticker(gateway):
    assert _in_quote(gateway, "0.002", "BNB", filled_at=timezone.now()) == Decimal("1.28")


def test_a_fee_in_bnb_of_an_older_fill_is_priced_at_the_close_of_its_minutes_candle(simulated_binance, gateway):
    filled_at = datetime(2026, 1, 5, 10, 0, 30, tzinfo=UTC)
    start_ms = int(datetime(2026, 1, 5, 10, 0, tzinfo=UTC).timestamp() * 1000)
    simulated_binance.add_ticks(
        ticks=[
            {"symbol": "BNB/USDT", "price": "600", "timestamp": start_ms},
            {"symbol": "BNB/USDT", "price": "620", "timestamp": start_ms + 40_000},
        ]
    )

    assert _in_quote(gateway, "0.002", "BNB", filled_at=filled_at) == Decimal("1.24")


def test_a_fee_in_a_coin_the_exchange_does_not_price_counts_as_zero_with_a_warning(gateway, caplog):
    with caplog.at_level("WARNING", logger="exchanges.fees"):
        assert _in_quote(gateway, "3", "DOGE", filled_at=timezone.now() - timedelta(minutes=1)) == 0

    assert "fill f-1 on BTC/USDT: fee of 3 DOGE not convertible" in caplog.text


def test_only_a_buy_paying_in_the_base_coin_receives_less_than_it_filled(gateway):
    market = gateway.market("BTC/USDT")

    assert fee_kept_from_amount(market=market, side="buy", fee=Decimal("0.00002"), fee_currency="BTC") == Decimal("0.00002")
    assert fee_kept_from_amount(market=market, side="buy", fee=Decimal("1.28"), fee_currency="USDT") == 0
    assert fee_kept_from_amount(market=market, side="buy", fee=Decimal("0.002"), fee_currency="BNB") == 0
    assert fee_kept_from_amount(market=market, side="sell", fee=Decimal("1.28"), fee_currency="USDT") == 0
