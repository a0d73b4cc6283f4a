"""A loopback Stripe stand-in for tests and local runs; see `server` for what it speaks."""

from devtools.stripe_standin.client import StandinClient, build_event, sign_webhook_payload
from devtools.stripe_standin.server import StripeStandin, make_standin_server, start_standin_thread

__all__ = [
    "StandinClient",
    "StripeStandin",
    "build_event",
    "make_standin_server",
    "sign_webhook_payload",
    "start_standin_thread",
]
