"""Client order ids: deterministic per order, so the same order can never be placed twice
(the exchange refuses a duplicate id, and a retry looks the order up by it first).

Binance allows 36 characters of `[.A-Z:/a-z0-9_-]`; ids here stay within 29 for 64-bit ids.
"""

import hashlib
import re

from copytrade.models import CopiedTrade

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
PLATFORM_CLOSE_PREFIX = {
    CopiedTrade.Kind.STOP_LOSS: "sl",
    CopiedTrade.Kind.CLOSE_ON_STOP: "cs",
    CopiedTrade.Kind.TAKE_PROFIT: "tp",
    CopiedTrade.Kind.POSITION_STOP: "ps",
    CopiedTrade.Kind.START_OPEN: "so",
}
RESYNC_PREFIX = "rs"
# Every order the platform places on a follower's account: a mirror ("ct"), a platform close or a resync.
_COPY_ORDER = re.compile(rf"^(ct|{RESYNC_PREFIX}|{'|'.join(PLATFORM_CLOSE_PREFIX.values())})[0-9a-z]+-[0-9a-z]+$")


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, remainder = divmod(number, 36)
        digits = _BASE36[remainder] + digits
        if number == 0:
            return digits


def copied_trade_client_order_id(*, leader_trade_id: int, copy_id: int) -> str:
    """Deterministic per (leader trade, copy); at most 29 characters for 64-bit ids
    (Binance allows 36 of `[.A-Z:/a-z0-9_-]`)."""
    return f"ct{_base36(leader_trade_id)}-{_base36(copy_id)}"


def platform_close_client_order_id(*, kind: str, copy_id: int, sequence: int) -> str:
    return f"{PLATFORM_CLOSE_PREFIX[kind]}{_base36(copy_id)}-{_base36(sequence)}"


def resync_client_order_id(*, copy_id: int, sequence: int) -> str:
    """A drift resync's order: deterministic per (copy, sequence), like a platform close's."""
    return f"{RESYNC_PREFIX}{_base36(copy_id)}-{_base36(sequence)}"


def leader_client_order_id(*, strategy_id: int, external_id: str) -> str:
    """Deterministic per signal: a retried or duplicated signal can never place a second order."""
    return f"L{strategy_id}-{hashlib.sha1(external_id.encode()).hexdigest()[:20]}"


def is_copy_order(client_order_id: str) -> bool:
    """Whether the platform placed this order for a copy (a mirror or a platform close)."""
    return bool(_COPY_ORDER.match(client_order_id))
