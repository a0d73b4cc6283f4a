from decimal import Decimal

import pytest

from exchanges.errors import UnknownSymbolError
from exchanges.symbols import resolve_symbol, symbols_by_upper
from exchanges.types import MarketRules


def _market(symbol: str, *, type: str = "spot", exchange_symbol: str = "") -> MarketRules:
    pair = symbol.split(":")[0]
    base, quote = pair.split("/")
    return MarketRules(
        symbol=symbol,
        base=base,
        quote=quote,
        type=type,
        amount_step=Decimal("0.00001"),
        price_step=Decimal("0.01"),
        exchange_symbol=exchange_symbol or base + quote,
    )


def _markets(*markets: MarketRules) -> dict[str, MarketRules]:
    return {market.symbol: market for market in markets}


SPOT = _markets(_market("BTC/USDT"), _market("ETH/USDT"), _market("ETH/BTC"), _market("1000PEPE/USDT"))
SPOT_AND_SWAP = _markets(_market("BTC/USDT"), _market("BTC/USDT:USDT", type="swap"))


@pytest.mark.parametrize("raw", ["BTCUSDT", "BTC-USDT", "btc/usdt", "BTC/USDT", "BTC_USDT", " btcusdt "])
def test_it_resolves_every_common_spelling_of_a_spot_pair(raw):
    assert resolve_symbol(raw, SPOT) == "BTC/USDT"


@pytest.mark.parametrize("raw", ["BTCUSDT", "btc/usdt", "BTC/USDT:USDT", "btc/usdt:usdt", "BTCUSDT:USDT"])
def test_an_index_kept_with_the_markets_resolves_as_one_built_per_call(raw):
    # CcxtGateway keeps the index with its loaded markets (built once per load, not per order)
    assert resolve_symbol(raw, SPOT_AND_SWAP, by_upper_symbol=symbols_by_upper(SPOT_AND_SWAP)) == resolve_symbol(raw, SPOT_AND_SWAP)


def test_it_resolves_a_pair_whose_base_starts_with_digits():
    assert resolve_symbol("1000pepeusdt", SPOT) == "1000PEPE/USDT"


def test_it_matches_the_exchange_own_market_id_even_when_it_differs_from_base_and_quote():
    markets = _markets(_market("BTC/USDT", exchange_symbol="XBTUSDT"))

    assert resolve_symbol("xbtusdt", markets) == "BTC/USDT"


def test_it_prefers_the_spot_market_when_no_settle_currency_is_given():
    assert resolve_symbol("BTCUSDT", SPOT_AND_SWAP) == "BTC/USDT"
    assert resolve_symbol("BTC-USDT", SPOT_AND_SWAP) == "BTC/USDT"


def test_it_resolves_a_linear_swap_when_the_settle_currency_is_given():
    assert resolve_symbol("BTC/USDT:USDT", SPOT_AND_SWAP) == "BTC/USDT:USDT"
    assert resolve_symbol("btc-usdt:usdt", SPOT_AND_SWAP) == "BTC/USDT:USDT"


def test_it_never_falls_back_from_a_swap_to_the_spot_market():
    with pytest.raises(UnknownSymbolError, match="BTC/USDT:USDT"):
        resolve_symbol("BTC/USDT:USDT", SPOT)


def test_it_resolves_the_only_swap_of_a_derivatives_only_market_list():
    markets = _markets(_market("BTC/USDT:USDT", type="swap"))

    assert resolve_symbol("BTCUSDT", markets) == "BTC/USDT:USDT"


def test_it_prefers_the_perpetual_over_dated_futures_with_the_same_settle_currency():
    markets = _markets(
        _market("BTC/USDT:USDT", type="swap"), _market("BTC/USDT:USDT-261225", type="future", exchange_symbol="BTCUSDT_261225")
    )

    assert resolve_symbol("BTC/USDT:USDT", markets) == "BTC/USDT:USDT"
    assert resolve_symbol("BTC/USDT:USDT-261225", markets) == "BTC/USDT:USDT-261225"


def test_it_refuses_to_guess_between_two_swaps_settled_in_different_currencies():
    markets = _markets(
        _market("BTC/USD:BTC", type="swap", exchange_symbol="BTCUSD_PERP"),
        _market("BTC/USD:USDC", type="swap", exchange_symbol="BTCUSDC"),
    )

    with pytest.raises(UnknownSymbolError, match="Ambiguous symbol 'BTC/USD'.*BTC/USD:BTC, BTC/USD:USDC"):
        resolve_symbol("BTC/USD", markets)


def test_it_names_the_input_when_the_market_does_not_exist():
    with pytest.raises(UnknownSymbolError, match="Unknown symbol 'DOGEUSDT'") as raised:
        resolve_symbol("DOGEUSDT", SPOT)

    assert raised.value.reason == "unknown_symbol"


@pytest.mark.parametrize(
    "raw, message",
    [
        ("", "Empty symbol"),
        ("   ", "Empty symbol"),
        ("B" * 51, "longer than 50 characters"),
        ("BTC USDT", "characters other than"),
        ("BTC/USDT;DROP", "characters other than"),
        ("BTC/ETH/USDT", "Malformed symbol 'BTC/ETH/USDT'"),
        ("BTC/USDT:", "Malformed symbol 'BTC/USDT:'"),
        ("/USDT", "Malformed symbol '/USDT'"),
    ],
)
def test_it_rejects_malformed_input_with_a_clear_message(raw, message):
    with pytest.raises(UnknownSymbolError, match=message):
        resolve_symbol(raw, SPOT)


def test_it_rejects_input_that_is_not_a_string():
    with pytest.raises(UnknownSymbolError, match="Empty symbol None"):
        resolve_symbol(None, SPOT)
