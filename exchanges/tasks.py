import logging
from decimal import Decimal

from celery import shared_task

from exchanges.errors import ExchangeError, TransientExchangeError, UnknownOutcomeError
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(TransientExchangeError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
)
def place_order(account_id: int, symbol: str, side: str, amount: str, client_order_id: str) -> None:
    """Place one market order on an account (operators and the demo; copies go through copytrade).

    The client order id makes a redelivered task harmless: the exchange refuses a second
    order with the same id, and we then read the first one back.
    """
    account = ExchangeAccount.objects.filter(id=account_id).first()
    if account is None:
        return
    gateway = gateway_for_account(account)
    try:
        result = gateway.create_order(symbol=symbol, side=side, amount=Decimal(amount), client_order_id=client_order_id)
    except UnknownOutcomeError:
        # The order may exist: read it back by its client id before anything else.
        result = gateway.fetch_order_by_client_id(symbol=symbol, client_order_id=client_order_id)
    except TransientExchangeError:
        raise
    except ExchangeError as exc:
        logger.warning("order %s on account %s failed: %s", client_order_id, account_id, exc.reason)
        return
    logger.info(
        "order %s on account %s %s: filled %s at %s",
        client_order_id, account_id, result.status, result.filled, result.average_price,
    )
