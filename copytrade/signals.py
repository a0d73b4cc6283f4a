"""Signals copytrade sends to the apps above it (which it never imports)."""

from django.dispatch import Signal

# Sent with `owner` (a user) before anything opens copying of the owner's strategies: a
# strategy created, a copy started or resumed. A receiver raises core.errors.ConflictError
# when the owner may not be copied now (marketplace: a suspended provider).
copying_open_requested = Signal()
