"""Gateway factory: the rest of the code asks for a gateway, never for ccxt."""

from exchanges.gateways.base import ExchangeGateway


def gateway_for_account(account) -> ExchangeGateway:
    if account.is_paper:
        from exchanges.gateways.paper import PaperGateway

        return PaperGateway(account)
    from exchanges.gateways.ccxt_gateway import CcxtGateway

    return CcxtGateway.for_account(account)
