"""Signals exchanges sends to the apps above it (which it never imports)."""

from django.dispatch import Signal

# Sent with `account` (an ExchangeAccount) under its owner's row lock, before the account is
# deleted; a receiver raises core.errors.ConflictError to refuse while it uses the account.
account_delete_requested = Signal()
