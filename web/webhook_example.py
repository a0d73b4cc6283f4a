"""The signed curl example the leader pages show: the webhook's real signature scheme
(`copytrade.services.leader_trades.webhook_signature_verify`), written as a shell script
a leader can paste: an HMAC-SHA256 of the exact body, keyed by the strategy's secret."""

from copytrade.models import Strategy
from copytrade.services.leader_trades import SIGNATURE_PREFIX

SECRET_PLACEHOLDER = "paste-your-webhook-secret-here"


def webhook_curl_example(*, strategy: Strategy, webhook_url: str, secret: str | None = None) -> str:
    """A buy of 500 USDT of BTC/USDT. It sends no price: the trade is recorded (or, with a
    leader account, placed) at the market's price when it arrives."""
    return (
        f"SECRET='{secret or SECRET_PLACEHOLDER}'\n"
        "NOW=$(date +%s)\n"
        f'BODY=\'{{"strategy_id": {strategy.pk}, "external_id": "signal-\'$NOW\'", "symbol": "BTC/USDT", '
        '"action": "buy", "position_size_usd": "500", "timestamp": \'$NOW\'}\'\n'
        "SIGNATURE=$(printf '%s' \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\" -r | cut -d' ' -f1)\n"
        f"curl -sS -X POST '{webhook_url}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f'  -H "X-Signature: {SIGNATURE_PREFIX}$SIGNATURE" \\\n'
        '  --data "$BODY"\n'
    )
