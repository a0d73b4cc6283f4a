"""Leverage and margin mode of an account's perpetual, set on the exchange once and
remembered (`PerpetualSetting`): the copy engine asks before each entry, and only a change
(another leverage, another margin mode, a market never traded) costs calls to the exchange.

Binance keeps one leverage and one margin mode per account and symbol, and copies on one
account share them: the latest entry's settings are those of the account's symbol.
"""

from django.utils import timezone

from exchanges.gateways.base import ExchangeGateway
from exchanges.models import ExchangeAccount, PerpetualSetting

MAX_LEVERAGE = 125


def perpetual_settings_ensure(*, account: ExchangeAccount, gateway: ExchangeGateway, symbol: str, leverage: int, margin_mode: str) -> bool:
    """Make the exchange trade `symbol` for `account` at `leverage` and `margin_mode` (one-way
    mode). True when it set something, False when they were in place already. Raises the
    gateway's error when the exchange refuses (a margin mode cannot change while a position
    is open) and then remembers nothing."""
    remembered = PerpetualSetting.objects.filter(account=account, symbol=symbol).values_list("leverage", "margin_mode").first()
    if remembered == (leverage, margin_mode):
        return False
    # Network outside any transaction; each step is idempotent at the exchange, so two
    # executions racing here both succeed and write the same row.
    gateway.perpetual_settings_apply(symbol=symbol, leverage=leverage, margin_mode=margin_mode)
    PerpetualSetting.objects.update_or_create(
        account=account, symbol=symbol, defaults={"leverage": leverage, "margin_mode": margin_mode, "applied_at": timezone.now()}
    )
    return True
