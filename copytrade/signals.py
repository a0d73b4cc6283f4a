"""Signals copytrade sends to the apps above it (which it never imports)."""

from django.dispatch import Signal

# Sent with `owner` (a user) before anything opens copying of the owner's strategies: a
# strategy created, a copy started or resumed. A receiver raises core.errors.ConflictError
# when the owner may not be copied now (marketplace: a suspended provider). `creating` is
# True when a new strategy is being created (the owner's row is locked): the receiver then
# holds its answer until commit, as no strategy lock orders it against a suspension.
copying_open_requested = Signal()
