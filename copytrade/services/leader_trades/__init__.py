"""Leader trades in: signed webhooks and the leader's REST calls (`intake`), the leader's own
order on a linked account (`leader_order`), and the recording of the fill with its fan-out
(`record`, which exchange sync records through too). `signal` is a signal's shape and
`market` the one market lookup a signal makes. The names callers use are re-exported here.
"""

from copytrade.services.leader_trades.intake import (
    SIGNATURE_PREFIX,
    leader_signal_submit,
    rest_signal_receive,
    signal_time_check,
    signals_throttle,
    webhook_body_load,
    webhook_signal_receive,
    webhook_signature_verify,
)
from copytrade.services.leader_trades.market import declared_price_check
from copytrade.services.leader_trades.record import (
    MAX_NOTIONAL,
    LeaderTradeOutcome,
    held_quantity,
    leader_trade_legs,
    leader_trade_record,
)
from copytrade.services.leader_trades.signal import (
    ACTIONS,
    BUY,
    CLOSE,
    FLIP_SUFFIX,
    MAX_EXTERNAL_ID_LENGTH,
    SELL,
    SIGNAL_FIELDS,
    SIGNAL_MAX,
    LeaderSignal,
    leader_signal_parse,
    signal_time_parse,
)

__all__ = [
    "ACTIONS",
    "BUY",
    "CLOSE",
    "FLIP_SUFFIX",
    "MAX_EXTERNAL_ID_LENGTH",
    "MAX_NOTIONAL",
    "SELL",
    "SIGNAL_FIELDS",
    "SIGNAL_MAX",
    "SIGNATURE_PREFIX",
    "LeaderSignal",
    "LeaderTradeOutcome",
    "declared_price_check",
    "held_quantity",
    "leader_signal_parse",
    "leader_signal_submit",
    "leader_trade_legs",
    "leader_trade_record",
    "rest_signal_receive",
    "signal_time_check",
    "signal_time_parse",
    "signals_throttle",
    "webhook_body_load",
    "webhook_signal_receive",
    "webhook_signature_verify",
]
