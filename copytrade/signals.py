"""Signals copytrade sends to the apps above it (which it never imports)."""

from django.dispatch import Signal

# Sent with `relationship` (a CopyRelationship just saved, in the copy start's transaction,
# under the strategy's row lock) and `expected_terms` (core.terms.FeeTerms the follower saw,
# or None). marketplace.receivers records the copy's fee terms; a receiver raises
# core.errors.ConflictError to refuse the copy (the transaction then rolls back).
copy_starting = Signal()
